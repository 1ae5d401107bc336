//! The crate's one clock: the system time that every command is signed at and every input is
//! checked against (clock skew), for the HTTP/2 streams and for [`BodyEvents`](crate::BodyEvents)
//! alike.

use crate::error::Error;
use eventstream::sign::SigningTime;
use std::time::{SystemTime, UNIX_EPOCH};

/// The system clock in whole seconds: the `SigningTime` of the current second is computed once.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    cached: Option<SigningTime>,
}

impl Clock {
    /// The time now, or [`Error::Clock`] (kind `clock_out_of_range`) when the system clock is
    /// outside the years 0 to 9999.
    pub(crate) fn now(&mut self) -> Result<SigningTime, Error> {
        let now = SystemTime::now();
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
