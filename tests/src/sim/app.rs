//! The applications that drive a simulated side: the [`Application`] trait, how often one polls
//! ([`PollPolicy`]), and three of them: [`Idle`], [`Script`], [`Echo`].

use std::collections::VecDeque;

use eventstream::frame::{Header, HeaderValue, Message};
use eventstream::session::{SessionEvent, EVENT_TYPE, INITIAL_RESPONSE};
use eventstream_testkit::SplitMix64;

use super::{Endpoint, Op};

/// How often an application polls its session's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollPolicy {
    /// Until `None`, after every input, as the drain contract asks.
    Eager,
    /// At most this many events a tick (at least 1): a slow application.
    PerTick(usize),
    /// Until `None`, but only at ticks that are multiples of this (at least 1): a bursty one.
    Every(u64),
}

impl PollPolicy {
    /// A random policy: eager half the time, else 1..=3 events a tick or every 2..=4 ticks.
    pub fn random(rng: &mut SplitMix64) -> Self {
        match rng.below(4) {
            0 | 1 => PollPolicy::Eager,
            2 => PollPolicy::PerTick(rng.between(1, 3) as usize),
            _ => PollPolicy::Every(rng.between(2, 4)),
        }
    }
}

/// An application on one side: it gives commands and sees events.
///
/// Both hooks run inside a tick: [`on_tick`](Self::on_tick) once at its start, then
/// [`on_event`](Self::on_event) for every event polled, as the side's [`PollPolicy`] allows.
pub trait Application {
    /// Called once a tick, before input is handled: issue scheduled commands here.
    fn on_tick(&mut self, ep: &mut Endpoint<'_>) {
        let _ = ep;
    }

    /// Called for every event the application polls, in order (the harness records it first).
    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        let _ = (event, ep);
    }

    /// Whether the application has nothing left to do; the run ends only when both have none.
    fn is_done(&self) -> bool {
        true
    }
}

/// An application that only listens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Idle;

impl Application for Idle {}

/// An application that gives commands at given ticks, in order, whatever it sees.
///
/// A command scheduled for a tick runs at the start of that tick; commands for the same tick run
/// in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct Script {
    steps: VecDeque<(u64, Op)>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `op` at `tick` (after the commands already scheduled for that tick).
    #[must_use]
    pub fn at(mut self, tick: u64, op: Op) -> Self {
        let index = self.steps.partition_point(|&(t, _)| t <= tick);
        self.steps.insert(index, (tick, op));
        self
    }

    /// How many commands have not run yet.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }
}

impl Application for Script {
    fn on_tick(&mut self, ep: &mut Endpoint<'_>) {
        while self.steps.front().is_some_and(|&(t, _)| t <= ep.tick()) {
            let (_, op) = self.steps.pop_front().expect("front exists");
            let _ = ep.apply(op);
        }
    }

    fn is_done(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The mirror server: answers the initial request with an initial response that has the same
/// headers (but `:event-type` `initial-response`) and payload ([`echo_initial_response`]), sends
/// every event back unchanged, and finishes when the client's side ends ([`SessionEvent::End`]).
/// Refused commands are only recorded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Application for Echo {
    fn on_event(&mut self, event: &SessionEvent, ep: &mut Endpoint<'_>) {
        let _ = match event {
            SessionEvent::InitialRequest(m) => ep.send_initial_response(echo_initial_response(m)),
            SessionEvent::Event(m) => ep.send(m.clone()),
            SessionEvent::End => ep.finish(),
            _ => Ok(()),
        };
    }
}

/// The initial response [`Echo`] answers `request` with: the same headers in the same order,
/// except that every `:event-type` is `initial-response`, and the same payload.
pub fn echo_initial_response(request: &Message) -> Message {
    let headers = request
        .headers()
        .iter()
        .map(|h| {
            if h.name() == EVENT_TYPE {
                Header::from_static(EVENT_TYPE, HeaderValue::from_static(INITIAL_RESPONSE))
            } else {
                h.clone()
            }
        })
        .collect();
    Message::from_parts(headers, request.payload().clone())
}
