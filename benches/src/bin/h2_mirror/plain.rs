//! The baseline: plain h2 at both ends with the same settings, carrying the same event frames
//! (pre-encoded) as one DATA frame each; the server echoes every DATA chunk as it comes, the
//! client compares the bytes it gets back with those it sent, in order.

use crate::transport::{Handshake, Serve, Settings};
use bytes::Bytes;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite};

/// The media type both implementations send.
const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Sends `data` on `send` as its flow control allows, in pieces of at most the capacity.
async fn send_with_capacity(send: &mut h2::SendStream<Bytes>, mut data: Bytes) {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let capacity = poll_fn(|cx| {
            if send.capacity() > 0 {
                return Poll::Ready(send.capacity());
            }
            match send.poll_capacity(cx) {
                Poll::Ready(Some(Ok(n))) => Poll::Ready(n),
                Poll::Ready(_) => panic!("the stream closed"),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        let piece = data.split_to(capacity.min(data.len()));
        send.send_data(piece, false).expect("sends");
    }
}

/// The plain h2 echo server with `settings`.
#[derive(Clone, Copy)]
pub(crate) struct PlainServer(pub(crate) Settings);

impl Serve for PlainServer {
    async fn serve<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let settings = self.0;
        let mut connection = h2::server::Builder::new()
            .initial_window_size(settings.stream_window)
            .initial_connection_window_size(settings.connection_window)
            .max_frame_size(settings.max_frame_size)
            .max_concurrent_streams(settings.max_concurrent_streams)
            .handshake::<_, Bytes>(io)
            .await
            .expect("an HTTP/2 handshake");
        while let Some(Ok((request, mut respond))) = connection.accept().await {
            tokio::spawn(async move {
                let mut body = request.into_body();
                let response = http::Response::builder()
                    .header("content-type", CONTENT_TYPE)
                    .body(())
                    .expect("a response");
                let mut send = respond.send_response(response, false).expect("responds");
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.expect("data");
                    let n = chunk.len();
                    send_with_capacity(&mut send, chunk).await;
                    let _ = body.flow_control().release_capacity(n);
                }
                send.send_data(Bytes::new(), true).expect("ends");
            });
        }
    }
}

/// The plain h2 client with `settings`.
pub(crate) struct PlainClient(pub(crate) Settings);

impl Handshake for PlainClient {
    type Connection = h2::client::SendRequest<Bytes>;

    async fn handshake_over<T>(&self, io: T) -> h2::client::SendRequest<Bytes>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let settings = self.0;
        let (send_request, connection) = h2::client::Builder::new()
            .initial_window_size(settings.stream_window)
            .initial_connection_window_size(settings.connection_window)
            .max_frame_size(settings.max_frame_size)
            .handshake::<_, Bytes>(io)
            .await
            .expect("an HTTP/2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        send_request
    }
}

/// The frames of one stream, and all their bytes in a row (what the echo must equal).
#[derive(Clone)]
pub(crate) struct Frames {
    /// One event frame each.
    pub(crate) frames: Arc<[Bytes]>,
    /// The frames one after another.
    pub(crate) joined: Bytes,
}

impl Frames {
    /// The frames and their concatenation.
    pub(crate) fn new(frames: Vec<Bytes>) -> Frames {
        let joined = frames.concat().into();
        Frames {
            frames: frames.into(),
            joined,
        }
    }
}

/// One stream: sends every frame as a DATA frame while another task compares each echoed chunk
/// with the bytes at its place in the stream, then checks that nothing is missing.
async fn stream(send_request: h2::client::SendRequest<Bytes>, uri: &'static str, frames: Frames) {
    let request = http::Request::post(uri)
        .header("content-type", CONTENT_TYPE)
        .body(())
        .expect("a request");
    let mut send_request = send_request.ready().await.expect("ready");
    let (response, mut send) = send_request.send_request(request, false).expect("sends");
    let expected = frames.joined.clone();
    let reader = tokio::spawn(async move {
        let mut body = response.await.expect("a response").into_body();
        let mut at = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("data");
            let end = at + chunk.len();
            assert!(
                end <= expected.len() && chunk[..] == expected[at..end],
                "the echo at byte {at} is what was sent"
            );
            at = end;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        assert_eq!(at, expected.len(), "every byte echoed");
    });
    for frame in frames.frames.iter() {
        send_with_capacity(&mut send, frame.clone()).await;
    }
    send.send_data(Bytes::new(), true).expect("ends");
    reader.await.expect("the reader does not panic");
}

/// One run on `send_request`'s connection: one stream to `uri` for each entry of `streams`,
/// all at once, each sending its frames and checking the echo.
pub(crate) async fn run(
    send_request: h2::client::SendRequest<Bytes>,
    uri: &'static str,
    mut streams: Vec<Frames>,
) {
    if streams.len() == 1 {
        let frames = streams.pop().expect("one stream");
        stream(send_request, uri, frames).await;
    } else {
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|frames| tokio::spawn(stream(send_request.clone(), uri, frames)))
            .collect();
        for task in tasks {
            task.await.expect("a stream does not panic");
        }
    }
}
