//! The options of the request that opens a stream, shared by `evs send` and `evs sign-request`:
//! the URL, `-H` headers, the signing region and service (inferred from an `*.amazonaws.com`
//! host when absent), the payload hash and the signing time.

use crate::endpoint;
use clap::builder::NonEmptyStringValueParser;
use clap::Args;
use eventstream::sign::{PayloadHash, SigningTime};
use http::header::{HeaderName, HeaderValue};

/// One `-H 'name: value'` request header.
#[derive(Clone, Debug)]
pub(crate) struct HeaderArg {
    /// The name, lowercased.
    pub(crate) name: HeaderName,
    /// The value, without the blanks around it.
    pub(crate) value: HeaderValue,
}

/// Parses `-H 'name: value'`: a valid header name, a colon, a value (blanks around it dropped;
/// it may be empty).
pub(crate) fn parse_header(arg: &str) -> Result<HeaderArg, String> {
    let (name, value) = arg
        .split_once(':')
        .ok_or_else(|| format!("expected 'name: value', found no colon in {arg:?}"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a valid header name", name.trim()))?;
    if name.as_str().starts_with(':') {
        return Err(format!("{name} is a pseudo-header: give it in the URL"));
    }
    let value = HeaderValue::from_str(value.trim_matches([' ', '\t']))
        .map_err(|_| format!("the value of {name} holds a character a header cannot carry"))?;
    Ok(HeaderArg { name, value })
}

/// Parses a stream's URL: `http://` or `https://`, with a host.
pub(crate) fn parse_url(value: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = value.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("expected an https:// or http:// URL".into()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(uri)
}

/// The signing scope options: flatten them into a subcommand's arguments.
#[derive(Debug, Args)]
pub(crate) struct ScopeArgs {
    /// The region of the signing scope, e.g. us-east-1. Default: the one in the host name
    /// (SERVICE.REGION.amazonaws.com), else AWS_REGION, AWS_DEFAULT_REGION or the profile's
    /// `region`.
    #[arg(long, value_name = "REGION", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) region: Option<String>,

    /// The signing name of the service, e.g. transcribe. Default: the one the host name implies
    /// (transcribestreaming.REGION.amazonaws.com signs as transcribe; the table is in --help).
    #[arg(long, value_name = "SERVICE", value_parser = NonEmptyStringValueParser::new())]
    pub(crate) service: Option<String>,

    /// The payload hash the request is signed with: `events` (STREAMING-AWS4-HMAC-SHA256-EVENTS,
    /// sent as x-amz-content-sha256, as most AWS SDKs do), `empty` (the SHA-256 of an empty body
    /// and no such header, as the AWS SDK for Rust does) or 64 hex digits (a body's SHA-256,
    /// signed as given, no header added).
    #[arg(
        long,
        value_name = "HASH",
        default_value = "events",
        value_parser = parse_payload_hash
    )]
    pub(crate) payload_hash: PayloadHash,
}

/// The help text of the region and service inference, for `--help` of the commands that sign.
pub(crate) const INFERENCE_HELP: &str = "\
Region and service:
  When --region or --service is absent, it is read from an AWS host name
  PREFIX.REGION.amazonaws.com (or .amazonaws.com.cn): REGION is the label before the domain
  when it looks like a region (us-east-1, us-gov-west-1, cn-north-1), and PREFIX (without a
  -fips suffix) names the service:
    transcribestreaming     transcribe
    bedrock-runtime         bedrock
    bedrock-agent-runtime   bedrock
    runtime.sagemaker       sagemaker
    runtime-v2-lex          lex
    streaming-rekognition   rekognition
    streaming-logs          logs
    BUCKET.s3               s3
    any other single label  itself (kinesis, lambda, ...)
  Other hosts (localhost, an IP address) name nothing. A region that is still missing comes from
  AWS_REGION, AWS_DEFAULT_REGION or the profile's `region`.";

impl ScopeArgs {
    /// The region and service from the options, then from the host name; `None` for what is
    /// still unknown.
    pub(crate) fn region_and_service(&self, uri: &http::Uri) -> (Option<String>, Option<String>) {
        let inferred = endpoint::infer(uri.host().unwrap_or_default());
        (
            self.region.clone().or(inferred.region),
            self.service.clone().or(inferred.service),
        )
    }
}

/// Parses `--payload-hash`: `events`, `empty` or 64 hex digits.
pub(crate) fn parse_payload_hash(value: &str) -> Result<PayloadHash, String> {
    match value {
        "events" => Ok(PayloadHash::StreamingEvents),
        "empty" => Ok(PayloadHash::EmptyBody),
        hex if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(PayloadHash::Precomputed(hex.to_ascii_lowercase()))
        }
        _ => Err("expected events, empty or 64 hex digits (a SHA-256)".into()),
    }
}

/// Parses a signing time: whole seconds since the Unix epoch, an RFC 3339 time in UTC or with an
/// offset (`2015-08-30T12:36:00Z`, `2015-08-30T14:36:00+02:00`; fractions of a second are
/// dropped), or an `x-amz-date` (`20150830T123600Z`); within the years 0 to 9999.
pub(crate) fn parse_time(value: &str) -> Result<SigningTime, String> {
    let secs = if value.bytes().all(|b| b.is_ascii_digit()) || value.starts_with('-') {
        value
            .parse::<i64>()
            .map_err(|e| format!("not a number of seconds: {e}"))?
    } else {
        parse_date_time(value).ok_or_else(|| {
            format!(
                "{value:?} is not seconds since the Unix epoch, an RFC 3339 time \
                 (2015-08-30T12:36:00Z) or an x-amz-date (20150830T123600Z)"
            )
        })?
    };
    SigningTime::from_unix_seconds(secs).map_err(|e| e.to_string())
}

/// Seconds since the Unix epoch of an RFC 3339 time or an `x-amz-date`.
fn parse_date_time(value: &str) -> Option<i64> {
    if let Some(t) = SigningTime::from_amz_date(value) {
        return Some(t.unix_seconds());
    }
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header arguments: name, colon, value; blanks around the value dropped; bad ones refused.
    #[test]
    fn headers_parse_like_curl() {
        let h = parse_header("X-Amzn-Transcribe-Language-Code: en-US").expect("valid");
        assert_eq!(h.name.as_str(), "x-amzn-transcribe-language-code");
        assert_eq!(h.value, "en-US");
        let h = parse_header("x-empty:").expect("an empty value");
        assert_eq!(h.value, "");
        let h = parse_header("a:b:c").expect("colons in the value");
        assert_eq!(h.value, "b:c");
        for bad in ["no colon", "bad name: v", ": v", ":authority: x", "x: a\nb"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }

    /// URLs: http or https, with a host.
    #[test]
    fn urls_need_a_scheme_and_host() {
        assert!(parse_url("https://transcribestreaming.us-east-1.amazonaws.com:8443/x").is_ok());
        assert!(parse_url("http://127.0.0.1:8080/mirror").is_ok());
        for bad in ["ftp://host/", "/path", "host:80", "https:///x"] {
            assert!(parse_url(bad).is_err(), "{bad:?}");
        }
    }

    /// The flags win; the host fills in what they leave out.
    #[test]
    fn flags_win_over_the_host() {
        let uri: http::Uri = "https://transcribestreaming.us-west-2.amazonaws.com:8443/s"
            .parse()
            .expect("a URL");
        let scope = |region: Option<&str>, service: Option<&str>| ScopeArgs {
            region: region.map(Into::into),
            service: service.map(Into::into),
            payload_hash: PayloadHash::StreamingEvents,
        };
        assert_eq!(
            scope(None, None).region_and_service(&uri),
            (Some("us-west-2".into()), Some("transcribe".into()))
        );
        assert_eq!(
            scope(Some("eu-west-1"), None).region_and_service(&uri),
            (Some("eu-west-1".into()), Some("transcribe".into()))
        );
        let local: http::Uri = "https://127.0.0.1:8443/s".parse().expect("a URL");
        assert_eq!(
            scope(None, Some("demo")).region_and_service(&local),
            (None, Some("demo".into()))
        );
    }

    /// Payload hashes: the two names and 64 hex digits.
    #[test]
    fn payload_hashes_parse() {
        assert_eq!(
            parse_payload_hash("events"),
            Ok(PayloadHash::StreamingEvents)
        );
        assert_eq!(parse_payload_hash("empty"), Ok(PayloadHash::EmptyBody));
        let hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(
            parse_payload_hash(hex),
            Ok(PayloadHash::Precomputed(hex.to_ascii_lowercase()))
        );
        assert!(parse_payload_hash("unsigned").is_err());
        assert!(parse_payload_hash(&hex[1..]).is_err());
    }

    /// The three time forms agree, offsets and fractions are handled, bad dates refused.
    #[test]
    fn times_parse_in_three_forms() {
        let at = |s: &str| parse_time(s).map(|t| t.unix_seconds());
        // 2015-08-30T12:36:00Z, the time of the official request signing suite.
        assert_eq!(at("1440938160"), Ok(1_440_938_160));
        assert_eq!(at("2015-08-30T12:36:00Z"), Ok(1_440_938_160));
        assert_eq!(at("20150830T123600Z"), Ok(1_440_938_160));
        assert_eq!(at("2015-08-30T14:36:00.999+02:00"), Ok(1_440_938_160));
        assert_eq!(at("2015-08-30T10:06:00-02:30"), Ok(1_440_938_160));
        assert_eq!(at("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(at("2000-02-29T00:00:00Z"), Ok(951_782_400));
        assert_eq!(at("1969-12-31T23:59:59Z"), Ok(-1));
        assert_eq!(at("0000-01-01T00:00:00Z"), Ok(-62_167_219_200));
        for bad in [
            "2015-02-29T00:00:00Z",
            "2015-13-01T00:00:00Z",
            "2015-08-30T24:00:00Z",
            "2015-08-30T12:36:00",
            "2015-08-30T12:36:00+2:00",
            "2015-08-30T12:36:00.Z",
            "20150830T1236Z",
            "253402300800",
            "now",
        ] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
    }
}
