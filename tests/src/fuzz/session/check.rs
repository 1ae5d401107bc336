//! The `session` target's oracles: each frame a side sent, each side's events, and what each
//! receiver got of what its peer sent.

use eventstream::frame::{FrameDecoder, Limits, Message};
use eventstream::session::{SessionError, SessionEvent};
use eventstream::sign::is_envelope;

use super::wire::ByteLink;
use super::world::{Peer, Unwrap};
use crate::sim::{check_abort, check_prefix};
use crate::{decode_pieces, Piece};

/// Checks one frame a side sent: `expected` the message inside (`None`: the end frame).
pub(super) fn check_sent_frame(name: &str, frame: &[u8], signs: bool, expected: Option<&Message>) {
    let limits = if signs {
        Limits::DEFAULT.enveloped()
    } else {
        Limits::DEFAULT
    };
    let got = decode_pieces(FrameDecoder::with_limits(limits), [Piece::Input(frame)]);
    assert!(
        got.is_clean() && got.messages.len() == 1,
        "{name} sent a bad frame: {got:?}"
    );
    let m = &got.messages[0];
    if signs {
        assert!(is_envelope(m), "{name} signs but sent {m:?}");
        match expected {
            None => assert!(
                m.payload().is_empty(),
                "{name}'s signed end frame has a payload"
            ),
            Some(e) => {
                let inner = decode_pieces(FrameDecoder::new(), [Piece::Bytes(m.payload().clone())]);
                assert_eq!(
                    inner.messages,
                    std::slice::from_ref(e),
                    "{name}: the envelope's inner message"
                );
            }
        }
    } else {
        match expected {
            None => assert_eq!(m, &Message::default(), "{name}'s end frame"),
            Some(e) => assert_eq!(m, e, "{name} sent another message than accepted"),
        }
    }
}

/// The events of one side: exactly one terminal event, the last ([`SideReport`]'s check, as in
/// the simulation); an abort closes the stream and nothing is accepted after it
/// ([`check_abort`]); what the side itself did decides its terminal event.
///
/// [`SideReport`]: crate::sim::SideReport
pub(super) fn check_side(peer: &Peer) {
    let report = &peer.report;
    report
        .check_one_terminal_last()
        .unwrap_or_else(|e| panic!("{}: {e}", peer.name));
    check_abort(report).unwrap_or_else(|e| panic!("{}: {e}", peer.name));
    let terminal = report.terminal().expect("checked");
    if peer.final_command().is_some_and(|c| !c.terminated_before) {
        assert_eq!(
            terminal,
            &SessionEvent::Closed,
            "{}: ended the stream",
            peer.name
        );
    }
    if peer.reset_by_input {
        assert!(
            matches!(
                terminal,
                SessionEvent::Exception { .. } | SessionEvent::Error { .. }
            ),
            "{}: reset on input, then {terminal:?}",
            peer.name
        );
    }
    if peer.transport_reset == Some(false) {
        assert!(
            matches!(terminal, SessionEvent::Failed(SessionError::Reset { .. })),
            "{}: the transport was reset, then {terminal:?}",
            peer.name
        );
    }
}

/// What `receiver` got of what `sender` sent over `link`: over intact bytes, every message
/// accepted and delivered arrives once, in order, byte-identical; a verifier lets through only
/// what was sent, and its `End` means everything arrived; when nothing was corrupted, the
/// terminal event is the one the delivered bytes call for (the sender's exception or error,
/// `reset`, `truncated`, `missing_end_frame` or `End`) after exactly the messages delivered.
pub(super) fn check_delivery(sender: &Peer, receiver: &Peer, link: &ByteLink) {
    let received = receiver.report.received_messages();
    let sent: Vec<&Message> = sender.accepted.iter().map(|(m, _)| m).collect();
    let delivered = link.bytes.len();
    let intact_to = link.mutated_from.unwrap_or(usize::MAX).min(delivered);
    let name = link.name;
    let terminal = receiver.report.terminal().expect("checked");
    let verifying = receiver.inbound == Unwrap::SigV4;

    // What arrived over intact bytes is what was sent.
    for (i, r) in received.iter().enumerate() {
        match sender.accepted.get(i) {
            Some((m, Some((_, end)))) if *end <= intact_to => {
                check_prefix(&[m], &[*r]).unwrap_or_else(|e| panic!("{name}: message {i}: {e}"));
            }
            _ => {}
        }
    }
    if verifying {
        check_prefix(&sent, &received).unwrap_or_else(|e| panic!("{name}: {e}"));
        if *terminal == SessionEvent::End {
            assert_eq!(
                received.len(),
                sent.len(),
                "{name}: End, but not everything arrived"
            );
            assert!(
                sender.finished(),
                "{name}: End verified, but the sender never finished"
            );
        }
    }
    if link.mutated_from.is_some_and(|m| m < delivered) {
        return;
    }
    // Intact: the terminal event and the count follow from what was delivered.
    let whole = |range: &Option<(usize, usize)>| range.is_some_and(|(_, end)| end <= delivered);
    let data_delivered = sender.accepted.iter().take_while(|(_, r)| whole(r)).count();
    let final_delivered = sender.final_frame.as_ref().filter(|(_, r)| whole(r));
    let end_delivered = sender.end_frame.is_some_and(|r| whole(&r));
    let boundary = delivered == 0 || link.frames.iter().any(|&(_, end)| end == delivered);
    let kind = match terminal {
        SessionEvent::Closed => return,
        SessionEvent::Failed(e) if e.kind() == "signature_expired" => return,
        SessionEvent::Failed(e) => e.kind(),
        _ => "",
    };
    let (expected, count): (&str, usize) = if let Some((m, _)) = final_delivered {
        match terminal {
            SessionEvent::Exception { message, .. } | SessionEvent::Error { message, .. } => {
                assert_eq!(message, m, "{name}: the final message");
            }
            other => panic!("{name}: the final message was delivered, the receiver saw {other:?}"),
        }
        ("final", sent.len())
    } else if receiver.transport_reset == Some(false) {
        ("reset", data_delivered)
    } else if !boundary {
        ("truncated", data_delivered)
    } else if verifying && !end_delivered {
        ("missing_end_frame", data_delivered)
    } else {
        ("End", data_delivered)
    };
    let ok = match expected {
        "final" => true,
        "End" => *terminal == SessionEvent::End,
        kind_expected => kind == kind_expected,
    };
    assert!(
        ok,
        "{name}: terminal {terminal:?}, expected {expected} ({delivered} bytes delivered, {} frames, \
         {} messages sent, {data_delivered} delivered)\nsent {sent:?}\nreceived {received:?}",
        link.frames.len(),
        sent.len()
    );
    assert_eq!(
        received.len(),
        count,
        "{name}: received {} of {} messages sent ({data_delivered} delivered), terminal {terminal:?}\n\
         sent {sent:?}\nreceived {received:?}",
        received.len(),
        sent.len()
    );
}
