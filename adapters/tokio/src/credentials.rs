//! Credentials for signed streams: where they come from ([`ProvideCredentials`]) and how a
//! request is signed with them ([`RequestSigning`], [`Client::open_signed`](crate::Client::open_signed)).

use crate::clock::Clock;
use crate::error::Error;
use eventstream::sign::{Credentials, PayloadHash, RequestSigner, SignedRequest, SigningParams};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future of [`ProvideCredentials::provide_credentials`].
pub type CredentialsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Credentials, Error>> + Send + 'a>>;

/// A source of credentials, asked once for every signed stream.
///
/// [`Credentials`] themselves are one (static credentials). With the `aws-credential-types`
/// feature, `AwsCredentials` wraps any provider of the AWS SDK for Rust, such as `aws-config`'s
/// default chain (environment, profiles, SSO, web identity, the instance's role), which caches
/// and refreshes temporary credentials itself. A provider of one's own implements this trait:
///
/// ```
/// use eventstream::sign::Credentials;
/// use eventstream_tokio::{CredentialsFuture, Error, ProvideCredentials};
///
/// /// Credentials from the environment, read again for every stream.
/// #[derive(Debug)]
/// struct FromEnv;
///
/// impl ProvideCredentials for FromEnv {
///     fn provide_credentials(&self) -> CredentialsFuture<'_> {
///         Box::pin(async {
///             let var = |name| {
///                 std::env::var(name).map_err(|e| Error::Credentials(std::sync::Arc::new(e)))
///             };
///             Ok(Credentials::new(var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?))
///         })
///     }
/// }
/// ```
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Credentials for the next request.
    ///
    /// # Errors
    ///
    /// [`Error::Credentials`] (kind `credentials`) with the provider's own error.
    fn provide_credentials(&self) -> CredentialsFuture<'_>;
}

/// Static credentials: the same every time.
impl ProvideCredentials for Credentials {
    fn provide_credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(std::future::ready(Ok(self.clone())))
    }
}

impl<P: ProvideCredentials + ?Sized> ProvideCredentials for Arc<P> {
    fn provide_credentials(&self) -> CredentialsFuture<'_> {
        (**self).provide_credentials()
    }
}

impl<P: ProvideCredentials + ?Sized> ProvideCredentials for Box<P> {
    fn provide_credentials(&self) -> CredentialsFuture<'_> {
        (**self).provide_credentials()
    }
}

/// Any provider of the AWS SDK for Rust (`aws_credential_types::provider::ProvideCredentials`),
/// as a [`ProvideCredentials`]: for example `aws-config`'s default chain.
///
/// ```
/// # fn doc(provider: aws_credential_types::provider::SharedCredentialsProvider) {
/// use eventstream_tokio::{AwsCredentials, RequestSigning};
///
/// // With aws-config:
/// // let provider = aws_config::load_from_env().await.credentials_provider().unwrap();
/// let signing = RequestSigning::new(AwsCredentials(provider), "us-east-1", "transcribe");
/// # drop(signing);
/// # }
/// ```
#[cfg(feature = "aws-credential-types")]
#[derive(Clone, Debug)]
pub struct AwsCredentials<P>(pub P);

#[cfg(feature = "aws-credential-types")]
impl<P> ProvideCredentials for AwsCredentials<P>
where
    P: aws_credential_types::provider::ProvideCredentials,
{
    fn provide_credentials(&self) -> CredentialsFuture<'_> {
        Box::pin(async move {
            let aws = self
                .0
                .provide_credentials()
                .await
                .map_err(|e| Error::Credentials(Arc::new(e)))?;
            Ok(AwsCredentials::<P>::convert(&aws))
        })
    }
}

#[cfg(feature = "aws-credential-types")]
impl<P> AwsCredentials<P> {
    /// The core's [`Credentials`] from the AWS SDK's: the key id, the secret and, for temporary
    /// credentials, the session token.
    ///
    /// ```
    /// use eventstream_tokio::AwsCredentials;
    ///
    /// let aws = aws_credential_types::Credentials::new("ASIA", "secret", Some("token".into()), None, "doc");
    /// let ours = AwsCredentials::<()>::convert(&aws);
    /// assert_eq!((ours.access_key_id(), ours.secret_access_key()), ("ASIA", "secret"));
    /// assert_eq!(ours.session_token(), Some("token"));
    /// let long_term = aws_credential_types::Credentials::new("AKID", "secret", None, None, "doc");
    /// assert_eq!(AwsCredentials::<()>::convert(&long_term).session_token(), None);
    /// ```
    pub fn convert(aws: &aws_credential_types::Credentials) -> Credentials {
        let credentials = Credentials::new(aws.access_key_id(), aws.secret_access_key());
        match aws.session_token() {
            Some(token) => credentials.with_session_token(token),
            None => credentials,
        }
    }
}

/// How [`Client::open_signed`](crate::Client::open_signed) signs a stream: a credentials
/// provider, and a SigV4 [`RequestSigner`] for a region and service (payload hash
/// `STREAMING-AWS4-HMAC-SHA256-EVENTS` by default).
///
/// Every stream takes fresh credentials from the provider, signs its request head with them at
/// the system clock's time, and its events are chained to the request's signature.
///
/// ```
/// use eventstream::sign::{Credentials, PayloadHash};
/// use eventstream_tokio::RequestSigning;
///
/// let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
/// let signing = RequestSigning::new(credentials, "us-east-1", "transcribe")
///     // As the AWS SDK for Rust: no x-amz-content-sha256, the empty body's hash signed.
///     .with_payload_hash(PayloadHash::EmptyBody);
/// assert_eq!(signing.signer().params().service(), "transcribe");
/// ```
#[derive(Clone)]
pub struct RequestSigning {
    provider: Arc<dyn ProvideCredentials>,
    signer: RequestSigner,
}

impl fmt::Debug for RequestSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSigning")
            .field("provider", &self.provider)
            .field("region", &self.signer.params().region())
            .field("service", &self.signer.params().service())
            .field("payload_hash", self.signer.payload_hash())
            .finish()
    }
}

impl RequestSigning {
    /// Signs for `region` and `service` with credentials from `provider`, with the
    /// `STREAMING-AWS4-HMAC-SHA256-EVENTS` payload hash (sent as `x-amz-content-sha256`).
    pub fn new(
        provider: impl ProvideCredentials + 'static,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        // The signer's credentials are replaced by the provider's for every stream.
        let params = SigningParams::new(Credentials::new("", ""), region, service);
        RequestSigning::with_signer(provider, RequestSigner::new(params))
    }

    /// Signs as `signer` is set up (its payload hash, path normalization, ...), with credentials
    /// from `provider` instead of the signer's own.
    pub fn with_signer(provider: impl ProvideCredentials + 'static, signer: RequestSigner) -> Self {
        RequestSigning {
            provider: Arc::new(provider),
            signer,
        }
    }

    /// The same, signing this payload hash.
    #[must_use]
    pub fn with_payload_hash(mut self, hash: PayloadHash) -> Self {
        self.signer = self.signer.with_payload_hash(hash);
        self
    }

    /// The signer (its credentials are replaced for each stream).
    pub fn signer(&self) -> &RequestSigner {
        &self.signer
    }

    /// The credentials provider.
    pub fn provider(&self) -> &dyn ProvideCredentials {
        &*self.provider
    }

    /// Takes fresh credentials and signs `parts` with them at the system clock's time: adds
    /// `host` (from the URI, when absent), `x-amz-date`, `x-amz-security-token` (temporary
    /// credentials), `x-amz-content-sha256` (streaming payload hash) and `authorization`.
    /// [`SignedRequest::event_signer`] then signs the stream's events.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use eventstream::sign::Credentials;
    /// use eventstream_tokio::RequestSigning;
    ///
    /// let signing = RequestSigning::new(Credentials::new("AKID", "secret"), "us-east-1", "demo");
    /// let (mut parts, ()) = http::Request::post("https://example.com/s").body(())?.into_parts();
    /// let signed = signing.sign(&mut parts).await?;
    /// assert_eq!(parts.headers["authorization"], signed.authorization());
    /// assert_eq!(signed.event_signer().prior_signature(), signed.signature());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The provider's [`Error::Credentials`]; [`Error::Clock`] when the system clock is outside
    /// the years 0 to 9999; [`Error::RequestSign`] when a header cannot hold a value (a session
    /// token with a control character, say).
    pub async fn sign(&self, parts: &mut http::request::Parts) -> Result<SignedRequest, Error> {
        let credentials = self.provider.provide_credentials().await?;
        let signer = self.signer.clone().with_credentials(credentials);
        let now = Clock::default().now()?;
        signer.sign(parts, now).map_err(Error::RequestSign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn each_signing_asks_the_provider() {
        #[derive(Debug, Default)]
        struct Counting(std::sync::atomic::AtomicUsize);
        impl ProvideCredentials for Counting {
            fn provide_credentials(&self) -> CredentialsFuture<'_> {
                let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(std::future::ready(Ok(Credentials::new(
                    format!("AKID{n}"),
                    "secret",
                ))))
            }
        }
        let signing = RequestSigning::new(Counting::default(), "us-east-1", "demo");
        for n in 0..2 {
            let (mut parts, ()) = http::Request::post("https://example.com/")
                .body(())
                .expect("a request")
                .into_parts();
            let signed = signing.sign(&mut parts).await.expect("signs");
            assert!(signed
                .authorization()
                .contains(&format!("Credential=AKID{n}/")));
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_provider_failure_is_a_credentials_error() {
        #[derive(Debug)]
        struct None_;
        impl ProvideCredentials for None_ {
            fn provide_credentials(&self) -> CredentialsFuture<'_> {
                Box::pin(std::future::ready(Err(Error::Credentials(Arc::new(
                    std::io::Error::other("no credentials configured"),
                )))))
            }
        }
        let signing = RequestSigning::new(None_, "us-east-1", "demo");
        let (mut parts, ()) = http::Request::post("https://example.com/")
            .body(())
            .expect("a request")
            .into_parts();
        let err = signing.sign(&mut parts).await.expect_err("no credentials");
        assert_eq!(err.kind(), "credentials");
        assert!(parts.headers.get("authorization").is_none());
    }
}
