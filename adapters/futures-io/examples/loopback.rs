//! A signed client and server over a loopback TCP socket, under smol.
//!
//! The client sends an initial request and five events while it receives the server's replies
//! (its `Sender` and `Receiver` run at the same time); the server echoes each event back in upper
//! case, then both ends finish with their signed end frames. The same code runs under async-std:
//! swap the runtime's `TcpListener`/`TcpStream` and add
//! `.with_shutdown(|s, how| s.shutdown(how))`, since async-std's `poll_close` only flushes.
//!
//! ```text
//! cargo run -p eventstream-futures-io --example futures-io-loopback
//! ```

use eventstream::session::{
    Command, EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent,
};
use eventstream::sign::{Credentials, SigV4Signer, SigV4Verifier, SigningParams};
use eventstream_futures_io::{Connection, Error};
use futures::StreamExt;
use smol::net::{TcpListener, TcpStream};

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

async fn serve(listener: TcpListener) -> Result<(), Error> {
    let (socket, peer) = listener.accept().await?;
    println!("server: accepted {peer}");
    let mut conn = Connection::new(socket, session(Role::Server));
    conn.command(Command::InitialResponse(
        EventBuilder::initial_response()
            .payload(&b"{\"ok\":true}"[..])
            .build(),
    ))
    .await?;
    while let Some(event) = conn.next_event().await? {
        match event {
            SessionEvent::InitialRequest(m) => {
                println!(
                    "server: initial request {}",
                    String::from_utf8_lossy(m.payload())
                )
            }
            SessionEvent::Event(m) => {
                let text = String::from_utf8_lossy(m.payload()).to_uppercase();
                println!("server: {} -> {text}", String::from_utf8_lossy(m.payload()));
                conn.send(EventBuilder::new("Echo").payload(text.into_bytes()).build())
                    .await?;
            }
            SessionEvent::End => break,
            other => println!("server: {other:?}"),
        }
    }
    conn.finish().await?; // the signed end frame, then shutdown(Write)
    println!("server: done");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = smol::spawn(serve(listener));

        let conn = Connection::new(TcpStream::connect(addr).await?, session(Role::Client));
        let (mut tx, mut rx) = conn.split();

        let send = async {
            tx.command(Command::InitialRequest(
                EventBuilder::initial_request()
                    .payload(&b"{\"lang\":\"en\"}"[..])
                    .build(),
            ))
            .await?;
            for word in ["one", "two", "three", "four", "five"] {
                tx.send(
                    EventBuilder::new("Word")
                        .payload(word.as_bytes().to_vec())
                        .build(),
                )
                .await?;
            }
            tx.finish().await
        };
        let receive = async {
            let mut echoes = 0;
            while let Some(event) = rx.next().await {
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
            Ok::<_, Error>(echoes)
        };
        let (sent, echoes) = futures::join!(send, receive);
        sent?;
        let echoes = echoes?;
        server.await?;
        println!("client: {echoes} echoes, every frame signed and verified");
        Ok(())
    })
}
