//! A signed client and server over a loopback TCP socket, with blocking IO and threads.
//!
//! The client sends an initial request and five events from one thread while another thread
//! receives the server's replies; the server echoes each event back in upper case, then both ends
//! finish with their signed end frames.
//!
//! ```text
//! cargo run -p eventstream-blocking --example blocking-loopback
//! ```

use eventstream::session::{
    Command, EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent,
};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
use eventstream_blocking::{Connection, Error};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// The seeds of the two signing chains: in a real service, the signature of the HTTP request
/// that opened the stream, and the one the server chose for its side.
const CLIENT_SEED: &str = "e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b";
const SERVER_SEED: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

fn session(role: Role) -> Session {
    let params = SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "secret"),
        "us-east-1",
        "demo",
    );
    let (send, receive) = match role {
        Role::Client => (CLIENT_SEED, SERVER_SEED),
        Role::Server => (SERVER_SEED, CLIENT_SEED),
    };
    Session::new(SessionConfig::new(role, Mode::Rpc))
        .with_signer(SigV4Signer::new(params.clone(), send))
        .with_verifier(SigV4Verifier::new(params, receive))
}

fn serve(listener: TcpListener) -> Result<(), Error> {
    let (socket, peer) = listener.accept()?;
    println!("server: accepted {peer}");
    let mut conn = Connection::new(socket, session(Role::Server))?;
    // An idle client is not an error: time out, say so, and keep waiting.
    conn.set_read_timeout(Some(Duration::from_secs(1)))?;
    conn.command(Command::InitialResponse(
        EventBuilder::initial_response()
            .payload(&b"{\"ok\":true}"[..])
            .build(),
    ))?;
    loop {
        let event = match conn.next_event() {
            Err(Error::TimedOut) => {
                println!("server: the client is quiet");
                continue;
            }
            other => other?,
        };
        match event {
            Some(SessionEvent::InitialRequest(m)) => {
                println!(
                    "server: initial request {}",
                    String::from_utf8_lossy(m.payload())
                )
            }
            Some(SessionEvent::Event(m)) => {
                let text = String::from_utf8_lossy(m.payload()).to_uppercase();
                println!("server: {} -> {text}", String::from_utf8_lossy(m.payload()));
                conn.send(EventBuilder::new("Echo").payload(text.into_bytes()).build())?;
            }
            Some(SessionEvent::End) | None => break,
            Some(other) => println!("server: {other:?}"),
        }
    }
    conn.finish()?; // the signed end frame, then shutdown(Write)
    println!("server: done");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || serve(listener));

    let conn = Connection::new(TcpStream::connect(addr)?, session(Role::Client))?;
    let (mut tx, rx) = conn.split();

    // Receive on a second thread while this one sends.
    let receiver = std::thread::spawn(move || -> Result<usize, Error> {
        let mut echoes = 0;
        for event in rx {
            match event? {
                SessionEvent::InitialResponse(m) => {
                    println!(
                        "client: initial response {}",
                        String::from_utf8_lossy(m.payload())
                    )
                }
                SessionEvent::Event(m) => {
                    println!("client: echo {}", String::from_utf8_lossy(m.payload()));
                    echoes += 1;
                }
                SessionEvent::End => println!("client: the server finished"),
                other => println!("client: {other:?}"),
            }
        }
        Ok(echoes)
    });

    tx.command(Command::InitialRequest(
        EventBuilder::initial_request()
            .payload(&b"{\"lang\":\"en\"}"[..])
            .build(),
    ))?;
    for word in ["one", "two", "three", "four", "five"] {
        tx.send(
            EventBuilder::new("Word")
                .payload(word.as_bytes().to_vec())
                .build(),
        )?;
    }
    tx.finish()?;

    let echoes = receiver.join().map_err(|_| "the receiver panicked")??;
    server.join().map_err(|_| "the server panicked")??;
    println!("client: {echoes} echoes, every frame signed and verified");
    Ok(())
}
