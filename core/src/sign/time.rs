//! The time an event is signed at: the core reads no clock, the caller passes it in.

use core::fmt;

/// A signing time: whole seconds since the Unix epoch, UTC, between the years 0 and 9999.
///
/// The core never reads a clock. The caller passes each event's time in, and the signer takes
/// the `:date` header, the scope date and the signing key from it, so a stream that crosses UTC
/// midnight switches to the next day's key by itself.
///
/// ```
/// use eventstream::sign::SigningTime;
///
/// let t = SigningTime::from_unix_seconds(1_700_000_000).unwrap();
/// assert_eq!(t.amz_date(), "20231114T221320Z");
/// assert_eq!(t.scope_date(), "20231114");
/// assert_eq!(t.unix_millis(), 1_700_000_000_000);
/// assert!(SigningTime::from_unix_seconds(i64::MAX).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SigningTime {
    secs: i64,
    /// `YYYYMMDDTHHMMSSZ`, ASCII.
    amz: [u8; 16],
}

/// A time outside the years 0 to 9999, which SigV4 dates cannot express.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("time {secs} s since the Unix epoch is outside the years 0 to 9999")]
pub struct TimeOutOfRange {
    /// The rejected time, in seconds since the Unix epoch.
    pub secs: i64,
}

impl SigningTime {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: SigningTime = SigningTime {
        secs: 0,
        amz: *b"19700101T000000Z",
    };

    /// The time `secs` seconds after the Unix epoch (negative: before it).
    ///
    /// # Errors
    ///
    /// [`TimeOutOfRange`] outside the years 0 to 9999.
    pub fn from_unix_seconds(secs: i64) -> Result<Self, TimeOutOfRange> {
        let t =
            time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| TimeOutOfRange { secs })?;
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return Err(TimeOutOfRange { secs });
        }
        let mut amz = [0u8; 16];
        let mut put = |at: usize, width: usize, mut v: u32| {
            for i in (0..width).rev() {
                amz[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, year as u32);
        put(4, 2, u8::from(t.month()) as u32);
        put(6, 2, t.day() as u32);
        put(9, 2, t.hour() as u32);
        put(11, 2, t.minute() as u32);
        put(13, 2, t.second() as u32);
        amz[8] = b'T';
        amz[15] = b'Z';
        Ok(SigningTime { secs, amz })
    }

    /// The time of a `:date` header value (milliseconds), rounded down to whole seconds.
    ///
    /// # Errors
    ///
    /// [`TimeOutOfRange`] outside the years 0 to 9999.
    pub fn from_unix_millis(millis: i64) -> Result<Self, TimeOutOfRange> {
        Self::from_unix_seconds(millis.div_euclid(1000))
    }

    /// A `std::time::SystemTime`, rounded down to whole seconds.
    ///
    /// # Errors
    ///
    /// [`TimeOutOfRange`] outside the years 0 to 9999.
    #[cfg(feature = "std")]
    pub fn from_system_time(t: std::time::SystemTime) -> Result<Self, TimeOutOfRange> {
        let secs = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                let d = e.duration();
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                // Round towards the past, like the positive case.
                whole
                    .saturating_neg()
                    .saturating_sub(i64::from(d.subsec_nanos() > 0))
            }
        };
        Self::from_unix_seconds(secs)
    }

    /// Reads an `x-amz-date`, `YYYYMMDDTHHMMSSZ` (UTC), exactly as [`amz_date`](Self::amz_date)
    /// writes it: `None` for any other form, a date that does not exist, or a year outside 0 to
    /// 9999.
    ///
    /// ```
    /// use eventstream::sign::SigningTime;
    ///
    /// let t = SigningTime::from_amz_date("20150830T123600Z").unwrap();
    /// assert_eq!(t.unix_seconds(), 1_440_938_160);
    /// assert!(SigningTime::from_amz_date("20230229T000000Z").is_none());
    /// ```
    pub fn from_amz_date(value: &str) -> Option<Self> {
        let b = value.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let num = |range: core::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
        let date = time::Date::from_calendar_date(
            i32::try_from(num(0..4)?).ok()?,
            month,
            u8::try_from(num(6..8)?).ok()?,
        )
        .ok()?;
        let clock = time::Time::from_hms(
            u8::try_from(num(9..11)?).ok()?,
            u8::try_from(num(11..13)?).ok()?,
            u8::try_from(num(13..15)?).ok()?,
        )
        .ok()?;
        let secs = time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp();
        let t = Self::from_unix_seconds(secs).ok()?;
        (t.amz_date() == value).then_some(t)
    }

    /// This time plus `secs` seconds (negative: minus).
    ///
    /// # Errors
    ///
    /// [`TimeOutOfRange`] when the result is outside the years 0 to 9999.
    pub fn checked_add_seconds(&self, secs: i64) -> Result<Self, TimeOutOfRange> {
        match self.secs.checked_add(secs) {
            Some(t) => Self::from_unix_seconds(t),
            None => Err(TimeOutOfRange { secs: i64::MAX }),
        }
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Milliseconds since the Unix epoch: the value of the `:date` header.
    pub const fn unix_millis(&self) -> i64 {
        self.secs * 1000
    }

    /// `YYYYMMDDTHHMMSSZ`, the form used in the string to sign.
    pub fn amz_date(&self) -> &str {
        core::str::from_utf8(&self.amz).unwrap_or_default()
    }

    /// `YYYYMMDD`, the date of the credential scope and of the signing key.
    pub fn scope_date(&self) -> &str {
        core::str::from_utf8(&self.amz[..8]).unwrap_or_default()
    }
}

impl fmt::Debug for SigningTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningTime({})", self.amz_date())
    }
}
