//! What a run leaves: each side's [`SideReport`], the checks over them ([`check_prefix`],
//! [`check_direction`], [`check_abort`]), a finished run's [`Outcome`] and a stopped one's
//! [`Hang`].

use std::fmt;

use eventstream::frame::Message;
use eventstream::session::{Role, SendError, SessionEvent, Transmit, EVENT_TYPE};

use super::{CommandRecord, Link, LinkEnd, Op, Seen};

/// Everything one side's application saw and did, and how its session pushed back.
#[derive(Clone, Debug)]
pub struct SideReport {
    /// The side's role.
    pub role: Role,
    /// Every event the application polled, in order.
    pub events: Vec<Seen>,
    /// Every command the application gave, in order.
    pub commands: Vec<CommandRecord>,
    /// How many events each poll round that yielded any yielded.
    pub poll_rounds: Vec<usize>,
    /// How many times `handle_input` / `handle_bytes` was called.
    pub input_calls: u64,
    /// How many of those calls consumed less than they were offered (backpressure).
    pub short_inputs: u64,
    /// The most complete frames the session had consumed and not yet handed out as events, over
    /// the moments right after each input call while it was not terminated: the events it held.
    pub max_unpolled_frames: usize,
    /// `Transmit::Finish` and `Transmit::Reset`, with their ticks.
    pub signals: Vec<(u64, Transmit)>,
    /// How many bytes the session transmitted.
    pub bytes_transmitted: u64,
    /// How many times `poll_transmit` was called.
    pub transmit_calls: u64,
    /// The tick at which `handle_end_of_input` was called, if it was.
    pub end_of_input_at: Option<u64>,
}

impl SideReport {
    /// An empty report for a side of this role.
    pub fn new(role: Role) -> Self {
        SideReport {
            role,
            events: Vec::new(),
            commands: Vec::new(),
            poll_rounds: Vec::new(),
            input_calls: 0,
            short_inputs: 0,
            max_unpolled_frames: 0,
            signals: Vec::new(),
            bytes_transmitted: 0,
            transmit_calls: 0,
            end_of_input_at: None,
        }
    }

    /// The last event, if it is terminal.
    pub fn terminal(&self) -> Option<&SessionEvent> {
        self.events
            .last()
            .map(|s| &s.event)
            .filter(|e| e.is_terminal())
    }

    /// Whether any event seen was terminal.
    pub fn saw_terminal(&self) -> bool {
        self.events.iter().any(|s| s.event.is_terminal())
    }

    /// The kind of the error the side failed with, if its terminal event is `Failed`.
    pub fn failed_kind(&self) -> Option<&'static str> {
        match self.terminal() {
            Some(SessionEvent::Failed(e)) => Some(e.kind()),
            _ => None,
        }
    }

    /// The messages of the non-terminal events seen (initial messages and events), in order.
    pub fn received_messages(&self) -> Vec<&Message> {
        self.events
            .iter()
            .filter_map(|s| match &s.event {
                SessionEvent::InitialRequest(m)
                | SessionEvent::InitialResponse(m)
                | SessionEvent::Event(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The messages of the accepted commands that do not end the stream (initial messages and
    /// events), in order: what the peer should receive as non-terminal events.
    pub fn sent_messages(&self) -> Vec<Message> {
        self.commands
            .iter()
            .filter(|c| c.result.is_ok() && !c.op.is_final())
            .filter_map(|c| c.op.message())
            .collect()
    }

    /// The first accepted `abort`, if any.
    pub fn abort_command(&self) -> Option<&CommandRecord> {
        self.commands.iter().find(|c| c.op == Op::Abort)
    }

    /// Checks that exactly one terminal event was seen, and that it was the last.
    ///
    /// # Errors
    ///
    /// A description of what is wrong.
    pub fn check_one_terminal_last(&self) -> Result<(), String> {
        let terminals: Vec<usize> = self
            .events
            .iter()
            .enumerate()
            .filter(|(_, s)| s.event.is_terminal())
            .map(|(i, _)| i)
            .collect();
        match terminals[..] {
            [i] if i + 1 == self.events.len() => Ok(()),
            [] => Err(format!("{:?} saw no terminal event", self.role)),
            _ => Err(format!(
                "{:?} saw terminal events at {terminals:?} of {} events: {}",
                self.role,
                self.events.len(),
                self.event_summary()
            )),
        }
    }

    /// The events seen, one short word each: `InitialRequest Event(A) End`.
    pub fn event_summary(&self) -> String {
        self.events
            .iter()
            .map(|s| describe(&s.event))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A short description of an event: its variant and `:event-type`, exception type, error code or
/// failure kind.
pub fn describe(event: &SessionEvent) -> String {
    let ty = |m: &Message| m.header_str(EVENT_TYPE).unwrap_or("?").to_owned();
    match event {
        SessionEvent::InitialRequest(_) => "InitialRequest".into(),
        SessionEvent::InitialResponse(_) => "InitialResponse".into(),
        SessionEvent::Event(m) => format!("Event({})", ty(m)),
        SessionEvent::Exception { exception_type, .. } => format!("Exception({exception_type})"),
        SessionEvent::Error { code, .. } => format!("Error({code})"),
        SessionEvent::End => "End".into(),
        SessionEvent::Closed => "Closed".into(),
        SessionEvent::Failed(e) => format!("Failed({})", e.kind()),
        other => format!("{other:?}"),
    }
}

/// Checks that `received` is a prefix of `sent`: each message delivered once, in order, and
/// byte-identical (equal, and encoding to the same bytes).
///
/// # Errors
///
/// Where the two differ.
pub fn check_prefix<A, B>(sent: &[A], received: &[B]) -> Result<(), String>
where
    A: std::borrow::Borrow<Message>,
    B: std::borrow::Borrow<Message>,
{
    if received.len() > sent.len() {
        return Err(format!(
            "received {} messages, only {} were sent",
            received.len(),
            sent.len()
        ));
    }
    for (i, (s, r)) in sent.iter().zip(received).enumerate() {
        let (s, r) = (s.borrow(), r.borrow());
        if s != r {
            return Err(format!("message {i} differs: sent {s:?}, received {r:?}"));
        }
        if crate::encode(s) != crate::encode(r) {
            return Err(format!("message {i} encodes differently"));
        }
    }
    Ok(())
}

/// Checks what `receiver` saw of what `sender` sent over `link` (the link from `sender` to
/// `receiver`); `verifying` says whether the receiver has a verifier (it then needs the signed end
/// frame).
///
/// - `receiver` saw exactly one terminal event, and last;
/// - the messages it received are a prefix of those `sender` sent ([`check_prefix`]);
/// - unless it closed the stream itself ([`SessionEvent::Closed`]), its terminal event and how
///   many messages it got follow from the link: the sender's exception or error, when that frame
///   got through, is the terminal event, after every message; else after a `Finish`, `End` and
///   every message; after a reset or a cut, the messages of the frames delivered, then `End` if
///   the delivered bytes end at a frame boundary (with a verifier: only once the end frame got
///   through, `Failed(missing_end_frame)` otherwise), `Failed(truncated)` if they end inside a
///   frame.
///
/// # Errors
///
/// What is wrong, with the run's summary.
pub fn check_direction(
    sender: &SideReport,
    receiver: &SideReport,
    link: &Link,
    verifying: bool,
) -> Result<(), String> {
    let sent = sender.sent_messages();
    let received = receiver.received_messages();
    let context = || {
        format!(
            "{:?} -> {:?}: sender did [{}]; receiver saw [{}]; {link:?}",
            sender.role,
            receiver.role,
            sender
                .commands
                .iter()
                .map(|c| format!("{:?}", c.result.as_ref().map_err(SendError::kind)))
                .collect::<Vec<_>>()
                .join(" "),
            receiver.event_summary()
        )
    };
    let wrap = |e: String| format!("{e}\n{}", context());
    receiver.check_one_terminal_last().map_err(wrap)?;
    check_prefix(&sent, &received).map_err(wrap)?;
    let terminal = receiver.terminal().expect("checked above");
    if *terminal == SessionEvent::Closed {
        return Ok(());
    }
    let frames = link.frames_delivered();
    let final_message = sender
        .commands
        .iter()
        .find(|c| c.result.is_ok() && c.op.is_final())
        .and_then(|c| c.op.message());
    let finished = sender
        .commands
        .iter()
        .any(|c| c.result.is_ok() && c.op == Op::Finish);
    let (expected, count): (&str, usize) = match (&final_message, link.end_kind()) {
        (Some(_), _) if frames > sent.len() => ("final", sent.len()),
        (_, None) => {
            return Err(wrap(format!(
                "terminal event {} though the input never ended",
                describe(terminal)
            )))
        }
        (_, Some(LinkEnd::Finish)) => ("End", sent.len()),
        (_, Some(LinkEnd::Reset | LinkEnd::Cut)) => {
            let count = frames.min(sent.len());
            if !link.delivered_at_frame_boundary() {
                ("Failed(truncated)", count)
            } else if verifying && !(finished && frames > sent.len()) {
                ("Failed(missing_end_frame)", count)
            } else {
                ("End", count)
            }
        }
    };
    let ok = match expected {
        "final" => match (terminal, &final_message) {
            (
                SessionEvent::Exception { message, .. } | SessionEvent::Error { message, .. },
                Some(m),
            ) => message == m,
            _ => false,
        },
        other => describe(terminal) == other,
    };
    if !ok {
        return Err(wrap(format!(
            "terminal event {}, expected {expected} ({frames} frames delivered, {} messages sent)",
            describe(terminal),
            sent.len()
        )));
    }
    if received.len() != count {
        return Err(wrap(format!(
            "received {} messages, expected {count} ({frames} frames delivered, {} sent)",
            received.len(),
            sent.len()
        )));
    }
    Ok(())
}

/// Checks the aborting side, if `side` aborted: its terminal event is `Closed` unless one was
/// already queued, and no command after the abort was accepted.
///
/// # Errors
///
/// What is wrong.
pub fn check_abort(side: &SideReport) -> Result<(), String> {
    let Some(at) = side.commands.iter().position(|c| c.op == Op::Abort) else {
        return Ok(());
    };
    let abort = &side.commands[at];
    if !abort.terminated_before && side.terminal() != Some(&SessionEvent::Closed) {
        return Err(format!(
            "{:?} aborted but saw [{}]",
            side.role,
            side.event_summary()
        ));
    }
    if let Some(c) = side.commands[at + 1..]
        .iter()
        .find(|c| c.op != Op::Abort && c.result.is_ok())
    {
        return Err(format!(
            "{:?} accepted {:?} after its abort",
            side.role, c.op
        ));
    }
    if side
        .signals
        .iter()
        .any(|&(tick, t)| t == Transmit::Finish && tick >= abort.tick)
    {
        // A Finish handed out at the abort's own tick must have come before it.
        let finish_before = side.commands[..at]
            .iter()
            .any(|c| c.op == Op::Finish && c.result.is_ok());
        if !finish_before {
            return Err(format!("{:?} half-closed after its abort", side.role));
        }
    }
    Ok(())
}

/// The result of a finished run.
#[derive(Debug)]
pub struct Outcome<C, S> {
    /// The seed of the run.
    pub seed: u64,
    /// How many ticks it took.
    pub ticks: u64,
    /// The client's side.
    pub client: SideReport,
    /// The server's side.
    pub server: SideReport,
    /// The client-to-server link.
    pub to_server: Link,
    /// The server-to-client link.
    pub to_client: Link,
    /// The client's application, as the run left it.
    pub client_app: C,
    /// The server's application, as the run left it.
    pub server_app: S,
}

impl<C, S> Outcome<C, S> {
    /// A few lines that describe the run: for assertion messages.
    pub fn summary(&self) -> String {
        summary(
            self.seed,
            self.ticks,
            [&self.client, &self.server],
            [&self.to_server, &self.to_client],
        )
    }
}

pub(super) fn summary(seed: u64, ticks: u64, sides: [&SideReport; 2], links: [&Link; 2]) -> String {
    let mut out = format!("seed {seed}, {ticks} ticks\n");
    for side in sides {
        let commands: Vec<String> = side
            .commands
            .iter()
            .map(|c| {
                let what = match &c.op {
                    Op::InitialRequest(_) => "initial_request".to_owned(),
                    Op::InitialResponse(_) => "initial_response".to_owned(),
                    Op::Send(m) => format!("send({})", m.header_str(EVENT_TYPE).unwrap_or("?")),
                    Op::Exception(_) => "exception".to_owned(),
                    Op::Error { code, .. } => format!("error({code})"),
                    Op::Finish => "finish".to_owned(),
                    Op::Abort => "abort".to_owned(),
                };
                match &c.result {
                    Ok(()) => format!("{}@{what}", c.tick),
                    Err(e) => format!("{}@{what}!{}", c.tick, e.kind()),
                }
            })
            .collect();
        out += &format!(
            "{:?}: saw [{}]; did [{}]; signals {:?}; inputs {} ({} short)\n",
            side.role,
            side.event_summary(),
            commands.join(" "),
            side.signals,
            side.input_calls,
            side.short_inputs,
        );
    }
    for link in links {
        out += &format!("{link:?}\n");
    }
    out
}

/// A run that did not finish within [`SimConfig::max_ticks`](super::SimConfig::max_ticks).
#[derive(Clone, Debug)]
pub struct Hang {
    /// The seed of the run.
    pub seed: u64,
    /// The tick it was stopped at.
    pub tick: u64,
    /// Both sides and both links, described.
    pub message: String,
}

impl fmt::Display for Hang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation hang guard: seed {} not finished after {} ticks\n{}",
            self.seed, self.tick, self.message
        )
    }
}

impl std::error::Error for Hang {}
