//! The command-line options of a SigV4 signing chain, shared by every subcommand that signs or
//! verifies (`evs sign`, `evs verify`, and later ones such as `evs serve` and `evs send`):
//! credentials, region, service and seed signature.

use clap::builder::{NonEmptyStringValueParser, TypedValueParser as _};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Args;
use eventstream::sign::{Credentials, SigningParams, SigningTime};
use std::fmt;

/// The environment variable read when `--access-key-id` is absent.
pub(crate) const ACCESS_KEY_ID_ENV: &str = "AWS_ACCESS_KEY_ID";
/// The environment variable read when `--secret-access-key` is absent.
pub(crate) const SECRET_ACCESS_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";

/// What a SigV4 chain is computed with: flatten it into a subcommand's arguments.
#[derive(Debug, Args)]
#[command(next_help_heading = "Signing options")]
pub(crate) struct SigningArgs {
    /// The access key id.
    #[arg(
        long,
        value_name = "ID",
        env = ACCESS_KEY_ID_ENV,
        hide_env_values = true,
        value_parser = NonEmptyStringValueParser::new()
    )]
    access_key_id: String,

    /// The secret access key. Prefer the environment variable: a command line is visible to
    /// other users of the machine. The secret is never printed.
    #[arg(
        long,
        value_name = "KEY",
        env = SECRET_ACCESS_KEY_ENV,
        hide_env_values = true,
        // A secret that starts with `-` must not end up in an "unexpected argument" error.
        allow_hyphen_values = true,
        value_parser = NonEmptyStringValueParser::new().map(Secret::new)
    )]
    secret_access_key: Secret,

    /// The region of the signing scope, e.g. us-east-1.
    #[arg(long, value_name = "REGION", value_parser = NonEmptyStringValueParser::new())]
    region: String,

    /// The signing name of the service, e.g. transcribe.
    #[arg(long, value_name = "SERVICE", value_parser = NonEmptyStringValueParser::new())]
    service: String,

    /// The signature the chain starts from: the one of the initial HTTP request (the
    /// `Signature=` of its Authorization header), 64 hex digits in either case.
    #[arg(long, value_name = "HEX", value_parser = parse_seed)]
    seed_signature: String,
}

impl SigningArgs {
    /// The signing parameters: credentials, region and service.
    pub(crate) fn params(&self) -> SigningParams {
        SigningParams::new(
            Credentials::new(
                self.access_key_id.as_str(),
                self.secret_access_key.0.as_str(),
            ),
            self.region.as_str(),
            self.service.as_str(),
        )
    }

    /// The seed signature, as 64 lowercase hex digits.
    pub(crate) fn seed(&self) -> &str {
        &self.seed_signature
    }
}

/// A secret access key or session token: a string whose `Debug` does not show it.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub(crate) fn new(secret: String) -> Self {
        Secret(secret)
    }

    /// The secret itself, for signing.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    /// Writes `<redacted>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Parses `--seed-signature`: 64 hex digits, returned in lowercase (the form SigV4 writes
/// signatures in, and the one the chain's first string to sign must contain).
fn parse_seed(value: &str) -> Result<String, String> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "expected 64 hex digits (a SigV4 signature), found {} characters{}",
            value.chars().count(),
            if value.chars().all(|c| c.is_ascii_hexdigit()) {
                ""
            } else {
                " that are not all hex digits"
            }
        ))
    }
}

/// Parses a signing time option: whole seconds since the Unix epoch, within the years 0 to 9999.
pub(crate) fn parse_signing_time(value: &str) -> Result<SigningTime, String> {
    let secs: i64 = value
        .parse()
        .map_err(|e| format!("expected whole seconds since the Unix epoch: {e}"))?;
    SigningTime::from_unix_seconds(secs).map_err(|e| e.to_string())
}

/// Adds a tip to clap's "required arguments were not provided" and "a value is required" errors
/// when they are about credentials: those can come from the environment too (where an empty
/// variable counts as an empty value).
pub(crate) fn explain_missing_credentials(err: &mut clap::Error) {
    let empty_value = err.kind() == ErrorKind::InvalidValue
        && matches!(err.get(ContextKind::InvalidValue), Some(ContextValue::String(v)) if v.is_empty());
    if !(err.kind() == ErrorKind::MissingRequiredArgument || empty_value) {
        return;
    }
    let is_credential =
        |arg: &str| arg.starts_with("--access-key-id") || arg.starts_with("--secret-access-key");
    let missing_credentials = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::Strings(args)) => args.iter().any(|arg| is_credential(arg)),
        Some(ContextValue::String(arg)) => is_credential(arg),
        _ => false,
    };
    if missing_credentials {
        err.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![format!(
                "pass --access-key-id and --secret-access-key, or set {ACCESS_KEY_ID_ENV} and \
                 {SECRET_ACCESS_KEY_ENV} in the environment"
            )
            .into()]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seeds are 64 hex digits, lowercased.
    #[test]
    fn seeds_are_64_hex_digits() {
        let seed = "E1D8E8C8815E60969F2A34765C9A15945FFC0BADBAA4B7E3B163EA19131E949B";
        assert_eq!(parse_seed(seed), Ok(seed.to_ascii_lowercase()));
        for bad in [
            "",
            "00",
            &seed[1..],
            &format!("{seed}0"),
            &seed.replace('E', "g"),
        ] {
            assert!(parse_seed(bad).is_err(), "{bad:?}");
        }
    }

    /// Signing times must be integers within the years 0 to 9999.
    #[test]
    fn signing_times_are_checked() {
        let t = parse_signing_time("348474601").expect("in range");
        assert_eq!(t.unix_seconds(), 348_474_601);
        assert!(parse_signing_time("-62167219200").is_ok(), "0000-01-01");
        assert!(parse_signing_time("253402300800").is_err(), "10000-01-01");
        assert!(parse_signing_time("1.5").is_err());
        assert!(parse_signing_time("now").is_err());
    }

    /// `Debug` of the arguments never shows the secret.
    #[test]
    fn debug_hides_the_secret() {
        let args = SigningArgs {
            access_key_id: "AKID".into(),
            secret_access_key: Secret("hunter2-very-secret".into()),
            region: "us-east-1".into(),
            service: "demo".into(),
            seed_signature: "00".repeat(32),
        };
        let text = format!("{args:?} {:?}", args.params());
        assert!(text.contains("AKID"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
