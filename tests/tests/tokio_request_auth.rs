//! The mirror with request verification (`Mirror::with_request_verifier`), over loopback: a
//! request signed with the core's `RequestSigner` is accepted and its signed events echoed; a
//! wrong secret, an unknown access key and a request replayed after its window (the server's
//! clock moved, no sleeping) get `403` in AWS's error shape (the exception an AWS service names,
//! a JSON message) with the error's kind and no stream; an event whose
//! `:date` is outside the window fails the stream.

mod tokio_common;

use eventstream::session::{Mode, Role, Session, SessionConfig, SessionEvent};
use eventstream::sign::{
    Credentials, RequestSigner, RequestVerifier, SignedRequest, SigningParams, SigningTime,
    StaticSecrets,
};
use eventstream_tokio::mirror::{Mirror, MirrorOutcome, MirrorReport, Secrets};
use eventstream_tokio::{Client, ServerBuilder, EVENT_STREAM_CONTENT_TYPE};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_common::*;

/// The skew window of these tests' verifier: the default, 5 minutes.
const WINDOW: i64 = RequestVerifier::<Secrets>::DEFAULT_MAX_SKEW_SECONDS as i64;

/// The server's clock: the system's, moved by a number of seconds the test sets.
#[derive(Clone, Default)]
struct MovedClock(Arc<AtomicI64>);

impl MovedClock {
    fn set(&self, seconds: i64) {
        self.0.store(seconds, Ordering::SeqCst);
    }

    fn now(&self) -> SystemTime {
        let moved = self.0.load(Ordering::SeqCst);
        let by = Duration::from_secs(moved.unsigned_abs());
        if moved >= 0 {
            SystemTime::now() + by
        } else {
            SystemTime::now() - by
        }
    }
}

/// A mirror that verifies requests from the test user (`params()`'s credentials) and a second
/// one on a clock the test moves, a client connected to it, and the mirror's stream reports.
struct Harness {
    clock: MovedClock,
    addr: SocketAddr,
    client: Client,
    reports: mpsc::UnboundedReceiver<MirrorReport>,
}

impl Harness {
    async fn start() -> Harness {
        let clock = MovedClock::default();
        let (addr, reports) = start(&clock).await;
        let client = Client::connect(addr).await.expect("connects");
        Harness {
            clock,
            addr,
            client,
            reports,
        }
    }

    /// A request to the mirror signed with `credentials` at the system's time.
    fn signed_request(&self, credentials: Credentials) -> (http::Request<()>, SignedRequest) {
        signed_request(self.addr, credentials, now())
    }

    /// Sends `request` with `session`, expects `403` in AWS's error shape naming `exception`
    /// and `kind`, and the mirror's report of it: refused, nothing echoed, with that kind.
    /// Returns the error's message.
    async fn assert_forbidden(
        &mut self,
        request: http::Request<()>,
        session: Session,
        exception: &str,
        kind: &str,
    ) -> String {
        let (mut sender, mut receiver) = self.client.open(request, session).await.expect("opens");
        // An event the mirror must not echo: it refuses before accepting the stream.
        let _ = sender.send(numbered_event(0, 0, 10)).await;
        let message = match receiver.recv().await {
            Some(Err(e)) => assert_aws_refusal(&e, exception, kind),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let report = self.reports.recv().await.expect("a report");
        assert_eq!(report.echoed, 0);
        match report.outcome {
            MirrorOutcome::Unverified(e) => assert_eq!(e.kind(), kind),
            other => panic!("expected an unverified request, got {other:?}"),
        }
        message
    }

    /// Sends three events on an accepted stream and expects each echoed, then the clean end.
    async fn assert_echoed(&mut self, request: http::Request<()>, session: Session) {
        let (mut sender, mut receiver) = self.client.open(request, session).await.expect("opens");
        for seq in 0..3 {
            sender
                .send(numbered_event(0, seq, 64))
                .await
                .expect("sends");
            match receiver.recv().await {
                Some(Ok(SessionEvent::Event(m))) => {
                    assert_eq!(m.payload(), numbered_event(0, seq, 64).payload());
                }
                other => panic!("expected the echo of event {seq}, got {other:?}"),
            }
        }
        sender.finish().await.expect("finishes");
        assert!(matches!(receiver.recv().await, Some(Ok(SessionEvent::End))));
        let report = self.reports.recv().await.expect("a report");
        assert!(report.verified_chain(), "{report:?}");
        assert_eq!(report.echoed, 3);
    }
}

/// The mirror of [`Harness`] on `clock`; each finished stream's report comes out of the channel.
async fn start(clock: &MovedClock) -> (SocketAddr, mpsc::UnboundedReceiver<MirrorReport>) {
    let users: StaticSecrets = [
        params().credentials().clone(),
        Credentials::new("AKIDOTHERUSER", "another secret"),
    ]
    .into_iter()
    .collect();
    let store: Secrets = Arc::new(users);
    let verifier = RequestVerifier::new(store, "us-east-1", "demo");
    let (tx, rx) = mpsc::unbounded_channel();
    let server_clock = clock.clone();
    let mirror = Mirror::new()
        .with_server(ServerBuilder::new().clock(move || server_clock.now()))
        .with_request_verifier(verifier)
        .on_stream_end(move |report| {
            let _ = tx.send(report.clone());
        });
    (start_mirror(mirror).await, rx)
}

/// A request to the mirror signed with `credentials` at `time`, and its signature.
fn signed_request(
    addr: SocketAddr,
    credentials: Credentials,
    time: SigningTime,
) -> (http::Request<()>, SignedRequest) {
    let request = http::Request::post(format!("http://{addr}/mirror"))
        .header(http::header::CONTENT_TYPE, EVENT_STREAM_CONTENT_TYPE)
        .body(())
        .expect("a request");
    let (mut parts, ()) = request.into_parts();
    let signer = RequestSigner::new(SigningParams::new(credentials, "us-east-1", "demo"));
    let signed = signer.sign(&mut parts, time).expect("signs");
    (http::Request::from_parts(parts, ()), signed)
}

/// A client session that signs its events from the request's signature.
fn session_for(signed: &SignedRequest) -> Session {
    Session::new(SessionConfig::new(Role::Client, Mode::HttpBinding))
        .with_signer(signed.event_signer())
}

fn now() -> SigningTime {
    SigningTime::from_system_time(SystemTime::now()).expect("a usable clock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_is_accepted_and_its_events_echoed() {
    within_hang_timeout(async {
        let mut h = Harness::start().await;
        let (request, signed) = h.signed_request(params().credentials().clone());
        h.assert_echoed(request, session_for(&signed)).await;
        // The second user, on the same connection.
        let other = Credentials::new("AKIDOTHERUSER", "another secret");
        let (request, signed) = h.signed_request(other);
        h.assert_echoed(request, session_for(&signed)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gets_403() {
    within_hang_timeout(async {
        let mut h = Harness::start().await;
        let wrong = Credentials::new(params().credentials().access_key_id(), "not the secret");
        let (request, signed) = h.signed_request(wrong);
        h.assert_forbidden(
            request,
            session_for(&signed),
            "InvalidSignatureException",
            "signature_does_not_match",
        )
        .await;
        // The connection still serves a good request.
        let (request, signed) = h.signed_request(params().credentials().clone());
        h.assert_echoed(request, session_for(&signed)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_access_key_gets_403() {
    within_hang_timeout(async {
        let mut h = Harness::start().await;
        let stranger = Credentials::new("AKIDNOBODYKNOWS", "a secret");
        let (request, signed) = h.signed_request(stranger);
        let message = h
            .assert_forbidden(
                request,
                session_for(&signed),
                "UnrecognizedClientException",
                "unknown_access_key",
            )
            .await;
        // The access key id is quoted in the detail: the JSON body escapes the quotes.
        assert_eq!(
            message,
            "unknown_access_key: unknown access key id \"AKIDNOBODYKNOWS\""
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_request_gets_403() {
    within_hang_timeout(async {
        let mut h = Harness::start().await;
        let request = request(h.addr, None);
        h.assert_forbidden(
            request,
            client_session(Mode::HttpBinding),
            "MissingAuthenticationTokenException",
            "missing_authorization",
        )
        .await;
    })
    .await;
}

/// The same request bytes, accepted within the window, are refused once the server's clock has
/// moved past it; and a request signed that far ahead of the server's clock is refused alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_after_its_window_gets_403_request_expired() {
    within_hang_timeout(async {
        let mut h = Harness::start().await;
        let (request, signed) = h.signed_request(params().credentials().clone());
        h.assert_echoed(request.clone(), session_for(&signed)).await;

        // Just inside the window (the request's second may have begun up to a second before
        // `now()`): still accepted.
        h.clock.set(WINDOW - 2);
        h.assert_echoed(request.clone(), session_for(&signed)).await;

        // Past it: the replay is refused before any event.
        h.clock.set(WINDOW + 2);
        let message = h
            .assert_forbidden(
                request.clone(),
                session_for(&signed),
                "InvalidSignatureException",
                "request_expired",
            )
            .await;
        assert!(
            message.starts_with("request_expired: Signature expired: "),
            "AWS's words: {message:?}"
        );

        // A server clock behind the request by more than the window: refused too.
        h.clock.set(-(WINDOW + 2));
        let message = h
            .assert_forbidden(
                request,
                session_for(&signed),
                "InvalidSignatureException",
                "request_expired",
            )
            .await;
        assert!(
            message.starts_with("request_expired: Signature not yet current: "),
            "AWS's words: {message:?}"
        );
    })
    .await;
}

/// The request is verified at the server's time; then the server's clock moves past the
/// window, and the next event (dated by the client's clock) fails the stream with an `error`
/// message, after the first event was echoed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_dated_outside_the_window_fails_the_stream() {
    within_hang_timeout(async {
        let mut h = Harness::start().await;
        let (request, signed) = h.signed_request(params().credentials().clone());
        let (mut sender, mut receiver) = h
            .client
            .open(request, session_for(&signed))
            .await
            .expect("opens");
        sender.send(numbered_event(0, 0, 32)).await.expect("sends");
        assert!(
            matches!(receiver.recv().await, Some(Ok(SessionEvent::Event(_)))),
            "the first event, within the window, is echoed"
        );

        h.clock.set(WINDOW + 60);
        sender.send(numbered_event(0, 1, 32)).await.expect("sends");
        match receiver.recv().await {
            Some(Ok(SessionEvent::Error { code, .. })) => {
                assert_eq!(&*code, "signature_expired");
            }
            other => panic!("expected the mirror's error message, got {other:?}"),
        }
        let report = h.reports.recv().await.expect("a report");
        assert_eq!(report.echoed, 1);
        assert!(!report.verified_chain());
        match report.outcome {
            MirrorOutcome::ErrorSent { code, .. } => assert_eq!(code, "signature_expired"),
            other => panic!("expected the error message, got {other:?}"),
        }
    })
    .await;
}
