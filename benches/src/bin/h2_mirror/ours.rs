//! Our side: the tokio adapter's `Client` against its `mirror`, every echo decoded, checked and
//! compared with the event sent.

use crate::transport::{Handshake, Serve, Settings};
use eventstream::frame::Message;
use eventstream::session::{Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams};
use eventstream_tokio::mirror::Mirror;
use eventstream_tokio::{Client, ClientBuilder, ServerBuilder};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};

/// The SigV4 parameters of the signed variant.
fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "bench",
    )
}

/// The signed variant's seed (what a request signature would be).
const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

/// The mirror with `settings`, verifying signatures when `signed`.
#[derive(Clone)]
pub(crate) struct OurServer(Arc<Mirror>);

impl OurServer {
    /// A mirror whose connections use `settings`; it verifies every stream's chain when
    /// `signed`.
    pub(crate) fn new(settings: Settings, signed: bool) -> OurServer {
        let server = ServerBuilder::new()
            .initial_stream_window_size(settings.stream_window)
            .initial_connection_window_size(settings.connection_window)
            .max_frame_size(settings.max_frame_size)
            .max_concurrent_streams(settings.max_concurrent_streams);
        let mut mirror = Mirror::new().with_server(server);
        if signed {
            mirror = mirror.with_signing(params());
        }
        OurServer(Arc::new(mirror))
    }
}

impl Serve for OurServer {
    async fn serve<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // A connection ends when its client is done: how it ends does not matter here, every
        // echo is checked at the client.
        let _ = self.0.serve_connection(io).await;
    }
}

/// Our client with `settings`.
pub(crate) struct OurClient(ClientBuilder);

impl OurClient {
    /// A client whose connections use `settings`.
    pub(crate) fn new(settings: Settings) -> OurClient {
        OurClient(
            ClientBuilder::new()
                .initial_stream_window_size(settings.stream_window)
                .initial_connection_window_size(settings.connection_window)
                .max_frame_size(settings.max_frame_size),
        )
    }
}

impl Handshake for OurClient {
    type Connection = Client;

    async fn handshake_over<T>(&self, io: T) -> Client
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.0.handshake(io).await.expect("an HTTP/2 handshake")
    }
}

/// One stream: sends `events` while another task receives the echoes and checks that each is
/// the event sent, in order, then the end of the response.
async fn stream(client: Client, uri: &'static str, events: Arc<[Message]>, signed: bool) {
    let mut request = http::Request::post(uri);
    let mut session = Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding));
    if signed {
        request = request.header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/bench/aws4_request, \
                 SignedHeaders=host, Signature={SEED}"
            ),
        );
        session = session.with_signer(SigV4Signer::new(params(), SEED));
    }
    let request = request.body(()).expect("a request");
    let (mut sender, mut receiver) = client.open(request, session).await.expect("opens");
    let expected = events.clone();
    let reader = tokio::spawn(async move {
        let mut n = 0;
        loop {
            match receiver.recv().await {
                Some(Ok(SessionEvent::Event(echo))) => {
                    assert!(n < expected.len(), "more echoes than events");
                    assert!(echo == expected[n], "echo {n} is the event sent");
                    n += 1;
                }
                Some(Ok(SessionEvent::End)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(n, expected.len(), "every event echoed");
    });
    for e in events.iter() {
        sender.send(e.clone()).await.expect("sends");
    }
    sender.finish().await.expect("finishes");
    reader.await.expect("the reader does not panic");
}

/// One run on `client`'s connection: one stream to `uri` for each entry of `streams`, all at
/// once, each sending its events and checking their echoes.
pub(crate) async fn run(
    client: Client,
    uri: &'static str,
    mut streams: Vec<Arc<[Message]>>,
    signed: bool,
) {
    if streams.len() == 1 {
        let events = streams.pop().expect("one stream");
        stream(client, uri, events, signed).await;
    } else {
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|events| tokio::spawn(stream(client.clone(), uri, events, signed)))
            .collect();
        for task in tasks {
            task.await.expect("a stream does not panic");
        }
    }
}
