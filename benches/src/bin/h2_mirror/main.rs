//! `h2_mirror`: events per second through the mirror over HTTP/2 on loopback, our tokio + h2
//! adapter against a plain h2 client and server that echo the same bytes as DATA frames, in the
//! same process and the same run.
//!
//! ```text
//! cargo run --release -p eventstream-benches --bin h2_mirror [-- --events 20000 --runs 5 --payload 1024]
//! ```
//!
//! Each run opens one stream on a fresh connection and sends N events while the echoes are read
//! by another task; it ends when the last echo and the end of the response arrived.
//!
//! - **ours**: `Client::open` + `Sender::send` of each event (the core session encodes it), the
//!   `mirror` server (the core session decodes, checks and hands out each message, the echo is
//!   encoded again), and the client's `Receiver` decodes and checks every echo;
//! - **ours, signed**: the same with SigV4 signing on the way in and verification at the mirror;
//! - **plain h2**: the same event frames, pre-encoded, sent as one DATA frame each with h2's flow
//!   control, a server that echoes each DATA chunk as it comes, and a client that counts bytes.
//!
//! The variants run interleaved, several times; the table shows the best and the median run.
//! Nothing here fails on a duration.

use bytes::{Bytes, BytesMut};
use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams};
use eventstream_tokio::mirror::Mirror;
use eventstream_tokio::Client;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

/// What to run.
struct Config {
    events: usize,
    runs: usize,
    payload: usize,
}

fn parse_args() -> Config {
    let mut config = Config {
        events: 20_000,
        runs: 5,
        payload: 1024,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < args.len() {
        let value: usize = args[i + 1].parse().unwrap_or_else(|_| {
            eprintln!("{} takes a number", args[i]);
            std::process::exit(2)
        });
        match args[i].as_str() {
            "--events" => config.events = value.max(1),
            "--runs" => config.runs = value.max(1),
            "--payload" => config.payload = value,
            other => {
                eprintln!("unknown option {other}; options: --events N --runs N --payload BYTES");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    config
}

/// The benchmark's event: a JSON-ish payload of `len` bytes and three headers.
fn event(seq: usize, len: usize) -> Message {
    let mut payload = format!("{{\"seq\":{seq},\"data\":\"").into_bytes();
    payload.resize(len.saturating_sub(2).max(payload.len()), b'x');
    payload.extend_from_slice(b"\"}");
    EventBuilder::new("AudioEvent")
        .content_type("application/json")
        .payload(payload)
        .build()
}

/// The SigV4 parameters of the signed variant.
fn params() -> SigningParams {
    SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "bench",
    )
}

const SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";

/// Starts a mirror on a loopback port.
async fn start_mirror(mirror: Mirror) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("has an address");
    tokio::spawn(mirror.serve(listener));
    addr
}

/// One run through our adapter: N events out, N echoes back.
async fn run_ours(addr: SocketAddr, events: &[Message], signed: bool) -> Duration {
    let client = Client::connect(addr).await.expect("connects");
    let mut request = http::Request::post(format!("http://{addr}/bench"));
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
    let start = Instant::now();
    let (mut sender, mut receiver) = client.open(request, session).await.expect("opens");
    let expected = events.len();
    let reader = tokio::spawn(async move {
        let mut n = 0;
        loop {
            match receiver.recv().await {
                Some(Ok(SessionEvent::Event(_))) => n += 1,
                Some(Ok(SessionEvent::End)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(n, expected, "every event echoed");
    });
    for e in events {
        sender.send(e.clone()).await.expect("sends");
    }
    sender.finish().await.expect("finishes");
    reader.await.expect("the reader does not panic");
    start.elapsed()
}

/// Sends `data` on `send` as its flow control allows, in pieces of at most the capacity.
async fn send_with_capacity(send: &mut h2::SendStream<Bytes>, mut data: Bytes) {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let capacity = poll_fn(|cx| {
            if send.capacity() > 0 {
                return std::task::Poll::Ready(send.capacity());
            }
            match send.poll_capacity(cx) {
                std::task::Poll::Ready(Some(Ok(n))) => std::task::Poll::Ready(n),
                std::task::Poll::Ready(_) => panic!("the stream closed"),
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await;
        let piece = data.split_to(capacity.min(data.len()));
        send.send_data(piece, false).expect("sends");
    }
}

/// The plain h2 echo server: every DATA chunk back as it comes, then END_STREAM.
async fn start_plain_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("has an address");
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.expect("accepts");
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let mut connection = h2::server::Builder::new()
                    .initial_connection_window_size(1024 * 1024)
                    .handshake::<_, Bytes>(tcp)
                    .await
                    .expect("handshake");
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    tokio::spawn(async move {
                        let mut body = request.into_body();
                        let response = http::Response::builder()
                            .header("content-type", "application/vnd.amazon.eventstream")
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
            });
        }
    });
    addr
}

/// One run through plain h2: the same frames as DATA, echoed, counted.
async fn run_plain(addr: SocketAddr, frames: &[Bytes]) -> Duration {
    let tcp = TcpStream::connect(addr).await.expect("connects");
    tcp.set_nodelay(true).expect("nodelay");
    let (send_request, connection) = h2::client::Builder::new()
        .initial_connection_window_size(1024 * 1024)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = http::Request::post(format!("http://{addr}/bench"))
        .header("content-type", "application/vnd.amazon.eventstream")
        .body(())
        .expect("a request");
    let start = Instant::now();
    let mut send_request = send_request.ready().await.expect("ready");
    let (response, mut send) = send_request.send_request(request, false).expect("sends");
    let expected: usize = frames.iter().map(Bytes::len).sum();
    let reader = tokio::spawn(async move {
        let mut body = response.await.expect("a response").into_body();
        let mut n = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("data");
            n += chunk.len();
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        assert_eq!(n, expected, "every byte echoed");
    });
    for frame in frames {
        send_with_capacity(&mut send, frame.clone()).await;
    }
    send.send_data(Bytes::new(), true).expect("ends");
    reader.await.expect("the reader does not panic");
    start.elapsed()
}

/// Best and median of a list of durations.
fn best_and_median(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

fn main() {
    let config = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let events: Vec<Message> = (0..config.events)
        .map(|i| event(i, config.payload))
        .collect();
    let frames: Vec<Bytes> = events
        .iter()
        .map(|m| {
            let mut out = BytesMut::new();
            m.encode(&mut out).expect("encodes");
            out.freeze()
        })
        .collect();
    let frame_len = frames[0].len();

    let (mut ours, mut signed, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    runtime.block_on(async {
        let mirror = start_mirror(Mirror::new()).await;
        let signed_mirror = start_mirror(Mirror::new().with_signing(params())).await;
        let plain_server = start_plain_server().await;
        // A warm-up of each, not counted.
        run_ours(mirror, &events[..events.len().min(1000)], false).await;
        run_ours(signed_mirror, &events[..events.len().min(1000)], true).await;
        run_plain(plain_server, &frames[..frames.len().min(1000)]).await;
        for _ in 0..config.runs {
            plain.push(run_plain(plain_server, &frames).await);
            ours.push(run_ours(mirror, &events, false).await);
            signed.push(run_ours(signed_mirror, &events, true).await);
        }
    });

    let rate = |d: Duration| config.events as f64 / d.as_secs_f64();
    let (plain_best, plain_median) = best_and_median(&mut plain);
    println!(
        "h2_mirror: {} events of {} B payload ({} B frames) each way, one stream, loopback, \
         {} runs, 2 worker threads",
        config.events, config.payload, frame_len, config.runs
    );
    println!();
    println!("| variant | best events/s | median events/s | median vs plain h2 |");
    println!("|---|---:|---:|---:|");
    for (name, times) in [
        ("plain h2 echo (same bytes as DATA)", &mut plain),
        ("ours: adapter + mirror, unsigned", &mut ours),
        (
            "ours: adapter + mirror, SigV4 signed + verified",
            &mut signed,
        ),
    ] {
        let (best, median) = best_and_median(times);
        println!(
            "| {name} | {:.0} | {:.0} | {:.2}x |",
            rate(best),
            rate(median),
            plain_median.as_secs_f64() / median.as_secs_f64()
        );
    }
    println!();
    println!(
        "ratio (ours, unsigned, median / plain h2, median): {:.2} (target: at least 0.70); \
         plain best {:.0} events/s",
        plain_median.as_secs_f64() / best_and_median(&mut ours).1.as_secs_f64(),
        rate(plain_best)
    );
}
