//! The log of `evs serve`: `tracing` events, one line each, written to standard error by a
//! thread of their own, so that a standard error nobody reads (a full pipe) never stalls the
//! server.
//!
//! Lines wait in a bounded queue ([`QUEUED_LINES`]); when it is full, new lines are dropped and
//! counted, and a `warning: N log lines dropped ...` line says so once the writer has room
//! again. What is logged: the line of each finished stream (target `evs`), and the adapter's
//! `info` and more severe events (target `eventstream_tokio`: accept failures, dead peers).
//! `RUST_LOG` replaces that choice, in the syntax of `tracing_subscriber`'s `Targets` (for
//! example `RUST_LOG=evs=info,eventstream_tokio=debug`).
//!
//! Each line is the event's message, then its other fields as `key=value`, then the fields of
//! the spans it happened in, in parentheses: `warning: ` starts a warning, `error: ` an error.

use std::fmt;
use std::io;
use std::time::Duration;
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;

/// The log lines that may wait for standard error before new ones are dropped: at about 60
/// bytes a line, a few MiB at most.
pub(crate) const QUEUED_LINES: usize = 50_000;

/// How often the count of dropped lines is checked (and, when it grew, reported).
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The running log. Dropping it writes out the lines still queued (waiting a second at most).
#[derive(Debug)]
pub(crate) struct Log {
    _guard: WorkerGuard,
    dropped: ErrorCounter,
}

impl Log {
    /// Routes the process's `tracing` events to standard error through the writer thread.
    /// Returns `None` when a global subscriber is already set.
    pub(crate) fn start() -> Option<Log> {
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(QUEUED_LINES)
            .thread_name("evs-log")
            .finish(io::stderr());
        let dropped = writer.error_counter();
        let (filter, bad_spec) = match std::env::var("RUST_LOG") {
            Ok(spec) if !spec.trim().is_empty() => match spec.parse::<Targets>() {
                Ok(filter) => (filter, None),
                Err(e) => (default_filter(), Some(format!("{spec:?}: {e}"))),
            },
            _ => (default_filter(), None),
        };
        let layer = tracing_subscriber::fmt::layer()
            .event_format(Lines)
            .with_writer(writer);
        let subscriber = tracing_subscriber::registry().with(layer).with(filter);
        tracing::subscriber::set_global_default(subscriber).ok()?;
        if let Some(bad) = bad_spec {
            tracing::warn!(target: "evs", "RUST_LOG ignored: {bad}");
        }
        Some(Log {
            _guard: guard,
            dropped,
        })
    }

    /// Reports lines dropped since the last report, every [`DROP_REPORT_INTERVAL`], for as long
    /// as the runtime runs.
    pub(crate) fn report_drops(&self) {
        let dropped = self.dropped.clone();
        tokio::spawn(async move {
            let mut reported = 0;
            let mut tick = tokio::time::interval(DROP_REPORT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = dropped.dropped_lines();
                if now > reported {
                    tracing::warn!(
                        target: "evs",
                        "{} log lines dropped: standard error is not read fast enough ({now} in all)",
                        now - reported
                    );
                    reported = now;
                }
            }
        });
    }
}

/// What is logged without `RUST_LOG`.
fn default_filter() -> Targets {
    Targets::new()
        .with_target("evs", Level::INFO)
        .with_target("eventstream_tokio", Level::INFO)
}

/// The line format: the message and fields, a prefix for warnings and errors, the spans'
/// fields in parentheses.
#[derive(Debug)]
struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match *event.metadata().level() {
            Level::ERROR => writer.write_str("error: ")?,
            Level::WARN => writer.write_str("warning: ")?,
            _ => {}
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        let mut open = false;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if fields.is_empty() {
                    continue;
                }
                writer.write_str(if open { " " } else { " (" })?;
                writer.write_str(fields)?;
                open = true;
            }
        }
        if open {
            writer.write_str(")")?;
        }
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;
    use std::io;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A stream line is its message alone; a warning is prefixed, and the fields of its spans
    /// follow in parentheses.
    #[test]
    fn lines_keep_the_stream_format() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(Lines)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "evs", "{}", "stream 1: 2 messages echoed, ended cleanly");
            let span = tracing::info_span!("mirror_connection", peer = "127.0.0.1:9");
            let _entered = span.enter();
            tracing::warn!(error = 24, "cannot accept connections");
            tracing::error!("the listener failed");
        });
        let out = String::from_utf8(buffer.0.lock().expect("not poisoned").clone()).expect("utf-8");
        assert_eq!(
            out,
            "stream 1: 2 messages echoed, ended cleanly\n\
             warning: cannot accept connections error=24 (peer=\"127.0.0.1:9\")\n\
             error: the listener failed (peer=\"127.0.0.1:9\")\n"
        );
    }
}
