//! The crate's one clock: the system time that every command is signed at and every input is
//! checked against (clock skew), for the HTTP/2 streams and for [`BodyEvents`](crate::BodyEvents)
//! alike. A server may be given another source of time
//! ([`ServerBuilder::clock`](crate::ServerBuilder::clock)), for tests that move time.

use crate::error::Error;
use eventstream::sign::SigningTime;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the time comes from: the system clock, or a function given by the application.
#[derive(Clone, Default)]
pub(crate) struct TimeSource(Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>);

impl TimeSource {
    /// A source that asks `now`.
    pub(crate) fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> TimeSource {
        TimeSource(Some(Arc::new(now)))
    }

    /// The time now.
    fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(now) => now(),
        }
    }

    /// The time now as a [`SigningTime`], or [`Error::Clock`] (kind `clock_out_of_range`)
    /// outside the years 0 to 9999.
    pub(crate) fn signing_time(&self) -> Result<SigningTime, Error> {
        SigningTime::from_system_time(self.now()).map_err(Error::Clock)
    }
}

impl fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            None => "SystemTime",
            Some(_) => "Custom",
        })
    }
}

/// A clock in whole seconds: the `SigningTime` of the current second is computed once.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    source: TimeSource,
    cached: Option<SigningTime>,
}

impl Clock {
    /// A clock that reads `source`.
    pub(crate) fn new(source: TimeSource) -> Clock {
        Clock {
            source,
            cached: None,
        }
    }

    /// The time now, or [`Error::Clock`] (kind `clock_out_of_range`) when the clock is outside
    /// the years 0 to 9999.
    pub(crate) fn now(&mut self) -> Result<SigningTime, Error> {
        let now = self.source.now();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        match (self.cached, secs) {
            (Some(t), Some(secs)) if t.unix_seconds() == secs => Ok(t),
            _ => {
                let t = SigningTime::from_system_time(now).map_err(Error::Clock)?;
                self.cached = Some(t);
                Ok(t)
            }
        }
    }
}
