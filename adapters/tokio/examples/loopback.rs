//! A loopback client and server over HTTP/2: the mirror server verifies a SigV4-signed RPC
//! stream and echoes it; the client sends an initial request and three events, then finishes,
//! while it prints what comes back.
//!
//! ```text
//! cargo run -p eventstream-tokio --example loopback
//! ```

use eventstream::session::{EventBuilder, Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{Credentials, SigV4Signer, SigningParams};
use eventstream_tokio::mirror::Mirror;
use eventstream_tokio::{Client, ServerConnection};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let params = SigningParams::new(
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "us-east-1",
        "demo",
    );

    // The server: the mirror, verifying every stream's chain, on a loopback port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mirror = Mirror::new().with_signing(params.clone());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut connection = ServerConnection::handshake(tcp).await?;
        let incoming = connection.accept().await.ok_or("no stream")??;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(mirror.serve_stream(incoming).await)
    });

    // The client. The seed of the signing chain is the request's own signature: a real client
    // signs the HTTP request with SigV4; here any 64 hex digits do, since the mirror checks the
    // event chain, not the request.
    let seed = "6f1b4b2a0e9c3d8f7a5b1c2d3e4f50617283940a1b2c3d4e5f60718293a4b5c6";
    let request = http::Request::post(format!("http://{addr}/echo"))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/demo/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, Signature={seed}"
            ),
        )
        .header("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-EVENTS")
        .body(())?;
    let session = Session::new(SessionConfig::new(Role::Client, Mode::Rpc))
        .with_signer(SigV4Signer::new(params, seed));
    let client = Client::connect(addr).await?;
    let (mut sender, mut receiver) = client.open(request, session).await?;

    // Receive in one task while sending in this one.
    let printer = tokio::spawn(async move {
        while let Some(event) = receiver.recv().await {
            match event {
                Ok(SessionEvent::InitialResponse(m)) => {
                    println!("initial response: {}", String::from_utf8_lossy(m.payload()))
                }
                Ok(SessionEvent::Event(m)) => println!(
                    "echo: {} {}",
                    m.header_str(":event-type").unwrap_or("?"),
                    String::from_utf8_lossy(m.payload())
                ),
                Ok(SessionEvent::End) => println!("the server ended the stream"),
                Ok(other) => println!("{other:?}"),
                Err(e) => println!("failed: {e}"),
            }
        }
    });

    sender
        .send_initial_request(
            EventBuilder::initial_request()
                .content_type("application/json")
                .payload(&br#"{"language":"en"}"#[..])
                .build(),
        )
        .await?;
    for text in ["one", "two", "three"] {
        let payload = format!(r#"{{"text":"{text}"}}"#);
        sender
            .send(
                EventBuilder::new("Chunk")
                    .content_type("application/json")
                    .payload(payload.into_bytes())
                    .build(),
            )
            .await?;
    }
    sender.finish().await?;
    printer.await?;

    let report = server.await?.map_err(|e| e.to_string())?;
    println!(
        "the server echoed {} messages; signing chain verified: {}",
        report.echoed,
        report.verified_chain()
    );
    Ok(())
}
