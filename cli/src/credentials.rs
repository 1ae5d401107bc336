//! Where `evs send` and `evs sign-request` get their credentials: the key flags when given,
//! otherwise the standard chain of the AWS SDKs, through `aws-config`.
//!
//! The chain is tried in this order, the first that has credentials wins:
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
//! 2. the profile (`--profile`, else `AWS_PROFILE`, else `default`) in the shared files
//!    `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE` and
//!    `AWS_CONFIG_FILE`): static keys, `credential_process`, IAM Identity Center (SSO) sessions
//!    from `aws sso login`, roles assumed from a source profile;
//! 3. web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN`, as on EKS);
//! 4. the ECS container endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `..._FULL_URI`);
//! 5. the EC2 instance metadata service (off with `AWS_EC2_METADATA_DISABLED=true`).
//!
//! The HTTPS client that the chain's SSO, STS and metadata calls go through is
//! `aws-smithy-http-client`'s, with rustls on the ring provider: the same TLS stack as the rest
//! of `evs`, and no C toolchain beyond a C compiler (no cmake, no aws-lc).

use crate::request::ScopeArgs;
use crate::signing::Secret;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::region::ProfileFileRegionProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use clap::builder::{NonEmptyStringValueParser, TypedValueParser as _};
use clap::Args;
use eventstream::sign::{Credentials, SigningParams};
use eventstream_tokio::AwsCredentials;
use std::error::Error as _;
use std::fmt;

/// The credential options of `evs send` and `evs sign-request`: flatten them into the
/// subcommand's arguments.
#[derive(Debug, Args)]
#[command(next_help_heading = "Credentials (default: the standard chain of the AWS SDKs)")]
pub(crate) struct CredentialArgs {
    /// The access key id. With it (and the secret), these keys are used and the standard chain is
    /// not read.
    #[arg(
        long,
        value_name = "ID",
        value_parser = NonEmptyStringValueParser::new(),
        requires = "secret_access_key",
        conflicts_with = "profile"
    )]
    access_key_id: Option<String>,

    /// The secret access key, used with --access-key-id only (the chain reads
    /// AWS_SECRET_ACCESS_KEY itself). Prefer the environment variable: a command line is visible
    /// to other users of the machine. The secret is never printed.
    #[arg(
        long,
        value_name = "KEY",
        env = crate::signing::SECRET_ACCESS_KEY_ENV,
        hide_env_values = true,
        allow_hyphen_values = true,
        value_parser = NonEmptyStringValueParser::new().map(Secret::new)
    )]
    secret_access_key: Option<Secret>,

    /// The session token of temporary keys given with --access-key-id; it is sent as
    /// x-amz-security-token. Never printed, except in the signed head of `evs sign-request`.
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "access_key_id",
        value_parser = NonEmptyStringValueParser::new().map(Secret::new)
    )]
    session_token: Option<Secret>,

    /// The profile of the shared config and credentials files to take credentials (and, when
    /// needed, the region) from, instead of AWS_PROFILE or `default`.
    #[arg(long, value_name = "NAME", value_parser = NonEmptyStringValueParser::new())]
    profile: Option<String>,
}

impl CredentialArgs {
    /// The credentials: from the flags when `--access-key-id` is given, otherwise from the
    /// standard chain. `region` is the signing region, which the chain's STS and SSO calls use
    /// when no profile says otherwise.
    pub(crate) async fn resolve(&self, region: &str) -> Result<Credentials, CredentialsFailure> {
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            let credentials = Credentials::new(id.as_str(), secret.expose());
            return Ok(match &self.session_token {
                Some(token) => credentials.with_session_token(token.expose()),
                None => credentials,
            });
        }
        let mut chain = DefaultCredentialsChain::builder()
            .configure(provider_config())
            .region(Region::new(region.to_owned()));
        if let Some(profile) = &self.profile {
            chain = chain.profile_name(profile);
        }
        let chain = chain.build().await;
        match chain.provide_credentials().await {
            Ok(found) => Ok(AwsCredentials::<()>::convert(&found)),
            Err(e) => Err(CredentialsFailure(e)),
        }
    }

    /// The region of the standard chain (AWS_REGION, AWS_DEFAULT_REGION, the profile's
    /// `region`, the instance's), for when neither `--region` nor the host name gives one.
    pub(crate) async fn configured_region(&self) -> Option<String> {
        let config = provider_config();
        let mut profile = ProfileFileRegionProvider::builder().configure(&config);
        if let Some(name) = &self.profile {
            profile = profile.profile_name(name);
        }
        RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(profile.build())
            .or_else(ImdsRegionProvider::builder().configure(&config).build())
            .region()
            .await
            .map(|region| region.as_ref().to_owned())
    }
}

/// Why the signing parameters could not be had.
#[derive(Debug)]
pub(crate) enum SigningFailure {
    /// The region or service is not given and cannot be inferred: a usage error.
    Usage(clap::Error),
    /// No credentials: the chain found none, or a provider in it failed.
    Credentials(CredentialsFailure),
}

/// The signing parameters of a request to `url`: region and service from the flags, the host
/// name or (the region) the configuration; credentials from the flags or the standard chain.
/// `subcommand` names the command in a usage error.
pub(crate) async fn signing_params(
    url: &http::Uri,
    scope: &ScopeArgs,
    credentials: &CredentialArgs,
    subcommand: &str,
) -> Result<SigningParams, SigningFailure> {
    let host = url.host().unwrap_or_default();
    let (region, service) = scope.region_and_service(url);
    let Some(service) = service else {
        return Err(SigningFailure::Usage(usage_error(
            subcommand,
            format!(
                "the signing service is not known: give --service (the host {host} does not \
                 name one)"
            ),
        )));
    };
    let region = match region {
        Some(region) => region,
        None => match credentials.configured_region().await {
            Some(region) => region,
            None => {
                return Err(SigningFailure::Usage(usage_error(
                    subcommand,
                    format!(
                        "the signing region is not known: give --region (the host {host} does \
                         not name one, and neither AWS_REGION, AWS_DEFAULT_REGION nor the \
                         profile does)"
                    ),
                )))
            }
        },
    };
    let found = credentials
        .resolve(&region)
        .await
        .map_err(SigningFailure::Credentials)?;
    Ok(SigningParams::new(found, region, service))
}

/// A usage error (exit status 2) of a subcommand, formatted by clap.
fn usage_error(subcommand: &str, message: String) -> clap::Error {
    let mut command = <crate::Cli as clap::CommandFactory>::command();
    command.build();
    match command.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(clap::error::ErrorKind::MissingRequiredArgument, message),
        None => command.error(clap::error::ErrorKind::MissingRequiredArgument, message),
    }
}

/// The configuration of the chain's providers: the rustls-on-ring HTTPS client and the tokio
/// sleep (for their timeouts).
fn provider_config() -> ProviderConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    ProviderConfig::without_region()
        .with_http_client(https)
        .with_behavior_version(Some(BehaviorVersion::latest()))
}

/// The standard chain found no credentials, or a provider in it failed.
#[derive(Debug)]
pub(crate) struct CredentialsFailure(CredentialsError);

impl fmt::Display for CredentialsFailure {
    /// Writes what the chain said (with its causes), then how to give credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CredentialsError::CredentialsNotLoaded(_) => f.write_str(
                "none found in the environment, the profile files, web identity, the container \
                 or the instance metadata",
            )?,
            other => {
                write!(f, "{other}")?;
                let mut source = other.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
            }
        }
        f.write_str(
            " (pass --access-key-id and --secret-access-key, set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or choose a --profile)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The failure line says what was tried and how to give credentials, and walks the causes.
    #[test]
    fn failures_explain_themselves() {
        let none = CredentialsFailure(CredentialsError::not_loaded("no providers in chain"));
        let text = none.to_string();
        assert!(text.starts_with("none found in the environment"), "{text}");
        assert!(text.contains("--access-key-id"), "{text}");
        let failed = CredentialsFailure(CredentialsError::provider_error(std::io::Error::other(
            "the SSO session has expired",
        )));
        let text = failed.to_string();
        assert!(text.contains("the SSO session has expired"), "{text}");
    }
}
