//! The adapters' readers against a plain socket copy of the same bytes, over loopback TCP.
//!
//! A writer thread sends the same pre-encoded frames (64 KiB payloads) for every run; the
//! receiving side either copies the bytes into a sink (the baseline: what any reader must at
//! least do), or decodes and checks every frame with the blocking `MessageReader`, the
//! futures-io `MessageReader` under smol, or the session drivers. Each variant runs several
//! times, interleaved; the table shows the median. Informational only: nothing fails on a time.
//!
//! ```text
//! cargo run --release -p eventstream-benches --bin readers [-- --mib 1024 --runs 5 --payload 65536]
//! ```

use eventstream::frame::Message;
use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

struct Config {
    /// Bytes sent per run, roughly.
    total: usize,
    runs: usize,
    payload: usize,
}

fn parse_args() -> Config {
    let mut config = Config {
        total: 1024 << 20,
        runs: 5,
        payload: 64 << 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < args.len() {
        let value: usize = args[i + 1].parse().unwrap_or_else(|_| {
            eprintln!("{} takes a number", args[i]);
            std::process::exit(2)
        });
        match args[i].as_str() {
            "--mib" => config.total = value << 20,
            "--runs" => config.runs = value.max(1),
            "--payload" => config.payload = value,
            other => {
                eprintln!("unknown option {other}; use --mib N --runs N --payload BYTES");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    config
}

/// The bytes one run sends: `block` written `repeat` times.
struct Wire {
    block: Vec<u8>,
    frames_per_block: usize,
    repeat: usize,
}

impl Wire {
    fn new(config: &Config) -> Wire {
        let mut block = bytes::BytesMut::new();
        let mut frames = 0;
        // About 4 MiB per block, distinct payloads.
        while block.len() < (4 << 20) || frames == 0 {
            let payload: Vec<u8> = (0..config.payload).map(|i| (i + frames) as u8).collect();
            EventBuilder::new("Chunk")
                .content_type("application/octet-stream")
                .payload(payload)
                .build()
                .encode(&mut block)
                .expect("the frame fits the default limits");
            frames += 1;
        }
        Wire {
            repeat: (config.total / block.len()).max(1),
            block: block.to_vec(),
            frames_per_block: frames,
        }
    }

    fn bytes(&self) -> usize {
        self.block.len() * self.repeat
    }

    fn frames(&self) -> usize {
        self.frames_per_block * self.repeat
    }
}

/// Connects a writer thread that sends the wire, then half-closes; returns the accepted socket.
fn serve_wire(wire: &Wire) -> (TcpStream, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let block = wire.block.clone();
    let repeat = wire.repeat;
    let writer = std::thread::spawn(move || {
        let mut socket = TcpStream::connect(addr).expect("connect");
        for _ in 0..repeat {
            socket.write_all(&block).expect("write");
        }
        socket.shutdown(Shutdown::Write).expect("shutdown");
    });
    let (socket, _) = listener.accept().expect("accept");
    (socket, writer)
}

const READ_BUFFER: usize = 64 << 10;

/// What one variant measured: bytes received and checked.
type Variant = fn(TcpStream, &Wire) -> usize;

fn blocking_plain_copy(mut socket: TcpStream, _: &Wire) -> usize {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut total = 0;
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += std::hint::black_box(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn blocking_io_copy(mut socket: TcpStream, _: &Wire) -> usize {
    std::io::copy(&mut socket, &mut std::io::sink()).expect("copy") as usize
}

fn check_frames(frames: usize, payload_bytes: usize, wire: &Wire) -> usize {
    assert_eq!(frames, wire.frames(), "every frame decoded");
    assert!(payload_bytes > 0);
    wire.bytes()
}

fn blocking_message_reader(socket: TcpStream, wire: &Wire) -> usize {
    let (mut frames, mut payload) = (0, 0);
    for message in eventstream_blocking::MessageReader::new(socket) {
        let message: Message = message.expect("a valid frame");
        payload += message.payload().len();
        frames += 1;
    }
    check_frames(frames, payload, wire)
}

fn blocking_connection(socket: TcpStream, wire: &Wire) -> usize {
    let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
    let conn = eventstream_blocking::Connection::new(socket, session).expect("clone");
    let (mut frames, mut payload) = (0, 0);
    for event in conn {
        match event.expect("a valid stream") {
            SessionEvent::Event(m) => {
                payload += m.payload().len();
                frames += 1;
            }
            SessionEvent::End => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    check_frames(frames, payload, wire)
}

fn async_plain_copy(socket: TcpStream, _: &Wire) -> usize {
    use smol::io::AsyncReadExt;
    smol::block_on(async {
        let mut socket = smol::Async::new(socket).expect("non-blocking");
        let mut buf = vec![0u8; READ_BUFFER];
        let mut total = 0;
        loop {
            match socket.read(&mut buf).await {
                Ok(0) => return total,
                Ok(n) => total += std::hint::black_box(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    })
}

fn async_message_reader(socket: TcpStream, wire: &Wire) -> usize {
    use smol::stream::StreamExt;
    smol::block_on(async {
        let socket = smol::Async::new(socket).expect("non-blocking");
        let mut reader = eventstream_futures_io::MessageReader::new(socket);
        let (mut frames, mut payload) = (0, 0);
        while let Some(message) = reader.next().await {
            payload += message.expect("a valid frame").payload().len();
            frames += 1;
        }
        check_frames(frames, payload, wire)
    })
}

fn async_connection(socket: TcpStream, wire: &Wire) -> usize {
    smol::block_on(async {
        let socket = smol::net::TcpStream::from(smol::Async::new(socket).expect("non-blocking"));
        let session = Session::new(SessionConfig::new(Role::Server, Mode::HttpBinding));
        let mut conn = eventstream_futures_io::Connection::new(socket, session);
        let (mut frames, mut payload) = (0, 0);
        while let Some(event) = conn.next_event().await.expect("a valid stream") {
            match event {
                SessionEvent::Event(m) => {
                    payload += m.payload().len();
                    frames += 1;
                }
                SessionEvent::End => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        check_frames(frames, payload, wire)
    })
}

fn measure(variant: Variant, wire: &Wire) -> Duration {
    let (socket, writer) = serve_wire(wire);
    let started = Instant::now();
    let got = variant(socket, wire);
    let elapsed = started.elapsed();
    writer.join().expect("the writer thread");
    assert_eq!(got, wire.bytes(), "every byte received");
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let config = parse_args();
    let wire = Wire::new(&config);
    let variants: [(&str, &str, Variant); 7] = [
        (
            "blocking",
            "plain read loop (64 KiB buffer)",
            blocking_plain_copy,
        ),
        (
            "blocking",
            "std::io::copy into io::sink()",
            blocking_io_copy,
        ),
        (
            "blocking",
            "eventstream_blocking::MessageReader",
            blocking_message_reader,
        ),
        (
            "blocking",
            "eventstream_blocking::Connection",
            blocking_connection,
        ),
        (
            "futures-io",
            "plain read loop (smol, 64 KiB)",
            async_plain_copy,
        ),
        (
            "futures-io",
            "eventstream_futures_io::MessageReader",
            async_message_reader,
        ),
        (
            "futures-io",
            "eventstream_futures_io::Connection",
            async_connection,
        ),
    ];
    println!(
        "{} frames of {} payload bytes ({:.0} MB) per run, {} runs each, median; loopback TCP",
        wire.frames(),
        config.payload,
        wire.bytes() as f64 / 1e6,
        config.runs
    );
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    // Warm up once, then interleave the variants so that they share the machine's moods.
    for (_, _, variant) in &variants {
        measure(*variant, &wire);
    }
    for _ in 0..config.runs {
        for (i, (_, _, variant)) in variants.iter().enumerate() {
            times[i].push(measure(*variant, &wire));
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    let rate = |d: Duration| wire.bytes() as f64 / d.as_secs_f64() / 1e6;
    println!();
    println!("| IO | receiver | MB/s | vs plain copy |");
    println!("|---|---|---:|---:|");
    for (i, (io, name, _)) in variants.iter().enumerate() {
        let baseline = if *io == "blocking" {
            medians[0]
        } else {
            medians[4]
        };
        println!(
            "| {io} | {name} | {:.0} | {:.2}x |",
            rate(medians[i]),
            rate(medians[i]) / rate(baseline)
        );
    }
    let ratio = |i: usize, base: usize| rate(medians[i]) / rate(medians[base]);
    println!();
    for (name, r) in [
        ("blocking MessageReader", ratio(2, 0)),
        ("futures-io MessageReader", ratio(5, 4)),
    ] {
        let verdict = match (config.payload == 64 << 10, r >= 0.8) {
            (true, true) => "meets the 0.8x target for 64 KiB events",
            (true, false) => "misses the 0.8x target for 64 KiB events",
            (false, _) => "the 0.8x target is for 64 KiB events",
        };
        println!("{name}: {r:.2}x the plain copy ({verdict})");
    }
}
