//! The simulation itself: how a run is set up ([`SimConfig`]) and the tick loop ([`Sim`]).

use eventstream::session::{Role, Session};
use eventstream::sign::SigningTime;
use eventstream_testkit::SplitMix64;

use super::report::summary;
use super::{Application, Endpoint, Hang, Link, LinkConfig, Outcome, PollPolicy, SideReport};

/// How a run is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed of every random choice of the run.
    pub seed: u64,
    /// The hang guard: the run fails if it has not finished after this many ticks.
    pub max_ticks: u64,
    /// The virtual time of tick 0, in seconds since the Unix epoch.
    pub start_unix_seconds: i64,
    /// How many virtual seconds a tick lasts.
    pub seconds_per_tick: i64,
    /// The client-to-server link.
    pub to_server: LinkConfig,
    /// The server-to-client link.
    pub to_client: LinkConfig,
    /// How the client's application polls.
    pub client_poll: PollPolicy,
    /// How the server's application polls.
    pub server_poll: PollPolicy,
}

impl SimConfig {
    /// 2023-11-14T22:13:20Z (1,700,000,000 s).
    pub const DEFAULT_START: i64 = 1_700_000_000;

    /// Default links both ways, eager applications, tick 0 at [`Self::DEFAULT_START`], one
    /// second a tick, a 10,000-tick hang guard.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            max_ticks: 10_000,
            start_unix_seconds: Self::DEFAULT_START,
            seconds_per_tick: 1,
            to_server: LinkConfig::default(),
            to_client: LinkConfig::default(),
            client_poll: PollPolicy::Eager,
            server_poll: PollPolicy::Eager,
        }
    }

    /// Both links and both poll policies drawn from `seed` ([`LinkConfig::random`],
    /// [`PollPolicy::random`]); otherwise as [`new`](Self::new).
    pub fn random(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x5eed_c0f1_6000_0000);
        SimConfig {
            to_server: LinkConfig::random(&mut rng),
            to_client: LinkConfig::random(&mut rng),
            client_poll: PollPolicy::random(&mut rng),
            server_poll: PollPolicy::random(&mut rng),
            ..Self::new(seed)
        }
    }

    /// Sets the client-to-server link.
    #[must_use]
    pub fn with_to_server(mut self, link: LinkConfig) -> Self {
        self.to_server = link;
        self
    }

    /// Sets the server-to-client link.
    #[must_use]
    pub fn with_to_client(mut self, link: LinkConfig) -> Self {
        self.to_client = link;
        self
    }

    /// Sets the client's poll policy.
    #[must_use]
    pub fn with_client_poll(mut self, poll: PollPolicy) -> Self {
        self.client_poll = poll;
        self
    }

    /// Sets the server's poll policy.
    #[must_use]
    pub fn with_server_poll(mut self, poll: PollPolicy) -> Self {
        self.server_poll = poll;
        self
    }

    /// Sets the virtual time of tick 0 and the length of a tick.
    #[must_use]
    pub fn with_clock(mut self, start_unix_seconds: i64, seconds_per_tick: i64) -> Self {
        self.start_unix_seconds = start_unix_seconds;
        self.seconds_per_tick = seconds_per_tick;
        self
    }

    /// Sets the hang guard.
    #[must_use]
    pub fn with_max_ticks(mut self, max_ticks: u64) -> Self {
        self.max_ticks = max_ticks;
        self
    }

    /// The virtual time of `tick`.
    ///
    /// # Panics
    ///
    /// When it is outside what [`SigningTime`] can express.
    pub fn time_at(&self, tick: u64) -> SigningTime {
        let secs = self.start_unix_seconds + tick as i64 * self.seconds_per_tick;
        SigningTime::from_unix_seconds(secs)
            .unwrap_or_else(|e| panic!("virtual clock out of range at tick {tick}: {e}"))
    }
}

#[derive(Debug)]
struct Side {
    session: Session,
    poll: PollPolicy,
    report: SideReport,
    end_of_input_signalled: bool,
    /// The time of the current tick: every input is given it.
    now: SigningTime,
}

impl Side {
    fn endpoint<'a>(&'a mut self, outbound: &'a mut Link, tick: u64) -> Endpoint<'a> {
        Endpoint::new(
            &mut self.session,
            outbound,
            &mut self.report,
            tick,
            self.now,
        )
    }
}

/// A client and a server session, their applications, and the two links between them.
#[derive(Debug)]
pub struct Sim<C, S> {
    config: SimConfig,
    rng: SplitMix64,
    tick: u64,
    client: Side,
    server: Side,
    client_app: C,
    server_app: S,
    to_server: Link,
    to_client: Link,
}

impl<C: Application, S: Application> Sim<C, S> {
    /// A run of `client` and `server` (sessions of those roles, configured as the test wants:
    /// signer, verifier, queue size, mode) driven by `client_app` and `server_app`.
    ///
    /// # Panics
    ///
    /// When the sessions' roles are not client and server.
    pub fn new(
        config: SimConfig,
        client: Session,
        server: Session,
        client_app: C,
        server_app: S,
    ) -> Self {
        assert_eq!(client.config().role(), Role::Client, "the client session");
        assert_eq!(server.config().role(), Role::Server, "the server session");
        let mut rng = SplitMix64::new(config.seed);
        let to_server = Link::new("client->server", config.to_server, rng.fork());
        let to_client = Link::new("server->client", config.to_client, rng.fork());
        let side = |session: Session, poll| Side {
            report: SideReport::new(session.config().role()),
            session,
            poll,
            end_of_input_signalled: false,
            now: config.time_at(0),
        };
        Sim {
            config,
            rng,
            tick: 0,
            client: side(client, config.client_poll),
            server: side(server, config.server_poll),
            client_app,
            server_app,
            to_server,
            to_client,
        }
    }

    /// Runs to the end.
    ///
    /// # Panics
    ///
    /// With the [`Hang`]'s description when the hang guard stops the run.
    pub fn run(self) -> Outcome<C, S> {
        self.try_run().unwrap_or_else(|hang| panic!("{hang}"))
    }

    /// Runs to the end, or until the hang guard stops it.
    ///
    /// # Errors
    ///
    /// A [`Hang`] after [`SimConfig::max_ticks`] ticks.
    pub fn try_run(mut self) -> Result<Outcome<C, S>, Hang> {
        loop {
            if self.is_finished() {
                return Ok(Outcome {
                    seed: self.config.seed,
                    ticks: self.tick,
                    client: self.client.report,
                    server: self.server.report,
                    to_server: self.to_server,
                    to_client: self.to_client,
                    client_app: self.client_app,
                    server_app: self.server_app,
                });
            }
            if self.tick >= self.config.max_ticks {
                let mut message = summary(
                    self.config.seed,
                    self.tick,
                    [&self.client.report, &self.server.report],
                    [&self.to_server, &self.to_client],
                );
                message += &format!(
                    "client session: {:?}\nserver session: {:?}\nclient app done: {}, server app done: {}\n",
                    self.client.session,
                    self.server.session,
                    self.client_app.is_done(),
                    self.server_app.is_done()
                );
                return Err(Hang {
                    seed: self.config.seed,
                    tick: self.tick,
                    message,
                });
            }
            self.step();
            self.tick += 1;
        }
    }

    fn is_finished(&self) -> bool {
        let side_done = |side: &Side, inbound: &Link| {
            side.report.saw_terminal()
                && inbound.is_quiet()
                && (inbound.end().is_none() || side.end_of_input_signalled)
        };
        side_done(&self.client, &self.to_client)
            && side_done(&self.server, &self.to_server)
            && self.client_app.is_done()
            && self.server_app.is_done()
    }

    fn step(&mut self) {
        let tick = self.tick;
        let now = self.config.time_at(tick);
        self.client.now = now;
        self.server.now = now;
        self.to_server.deliver(tick);
        self.to_client.deliver(tick);
        let client_first = self.rng.chance(1, 2);
        for turn in 0..2 {
            if (turn == 0) == client_first {
                step_side(
                    &mut self.client,
                    &mut self.client_app,
                    &mut self.to_client,
                    &mut self.to_server,
                    tick,
                );
            } else {
                step_side(
                    &mut self.server,
                    &mut self.server_app,
                    &mut self.to_server,
                    &mut self.to_client,
                    tick,
                );
            }
        }
    }
}

fn step_side(
    side: &mut Side,
    app: &mut impl Application,
    inbound: &mut Link,
    outbound: &mut Link,
    tick: u64,
) {
    app.on_tick(&mut side.endpoint(outbound, tick));
    match side.poll {
        PollPolicy::Eager => eager(side, app, inbound, outbound, tick),
        PollPolicy::Every(n) if tick.is_multiple_of(n.max(1)) => {
            eager(side, app, inbound, outbound, tick)
        }
        PollPolicy::Every(_) => {
            feed(side, inbound, outbound, tick);
        }
        PollPolicy::PerTick(k) => {
            feed(side, inbound, outbound, tick);
            poll_round(side, app, outbound, tick, k.max(1));
            feed(side, inbound, outbound, tick);
        }
    }
}

/// Feeds and polls until neither makes progress, as the drain contract asks.
fn eager(
    side: &mut Side,
    app: &mut impl Application,
    inbound: &mut Link,
    outbound: &mut Link,
    tick: u64,
) {
    loop {
        let fed = feed(side, inbound, outbound, tick);
        let got = poll_round(side, app, outbound, tick, usize::MAX);
        if !fed && got == 0 {
            break;
        }
    }
}

/// Offers the delivered bytes to the session, piece by piece, until it stops consuming; then,
/// once everything delivered was consumed, the end of input. Returns whether anything happened.
fn feed(side: &mut Side, inbound: &mut Link, outbound: &mut Link, tick: u64) -> bool {
    let mut progress = false;
    while let Some(piece) = inbound.arrived.front().cloned() {
        // Both ways in: copied, or shared without a copy.
        let shared = inbound.rng.chance(1, 2);
        let mut ep = side.endpoint(outbound, tick);
        let n = if shared {
            ep.offer_bytes(&piece)
        } else {
            ep.offer_slice(&piece)
        };
        if n > 0 {
            inbound.consume(n);
            progress = true;
        }
        if !side.session.is_terminated() {
            let complete = inbound
                .frame_ends()
                .partition_point(|&e| e <= inbound.consumed());
            let held = complete.saturating_sub(side.report.events.len());
            side.report.max_unpolled_frames = side.report.max_unpolled_frames.max(held);
        }
        if n < piece.len() {
            break;
        }
    }
    if inbound.arrived.is_empty() && inbound.end().is_some() && !side.end_of_input_signalled {
        side.endpoint(outbound, tick).end_of_input();
        side.end_of_input_signalled = true;
        progress = true;
    }
    progress
}

/// Polls at most `limit` events, handing each to the application. Returns how many it got.
fn poll_round(
    side: &mut Side,
    app: &mut impl Application,
    outbound: &mut Link,
    tick: u64,
    limit: usize,
) -> usize {
    let mut got = 0;
    while got < limit {
        let mut ep = side.endpoint(outbound, tick);
        let Some(event) = ep.poll_event() else {
            break;
        };
        got += 1;
        app.on_event(&event, &mut ep);
    }
    if got > 0 {
        side.report.poll_rounds.push(got);
    }
    got
}
