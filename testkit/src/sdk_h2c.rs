//! A cleartext HTTP/2 client for the AWS SDK for Rust (feature `sdk-h2c`).
//!
//! The SDK's default HTTP client speaks TLS and negotiates HTTP/2 by ALPN; our mirror server on a
//! loopback port speaks cleartext HTTP/2 with prior knowledge. [`h2c_http_client`] gives the SDK
//! a hyper-util client that speaks HTTP/2 only, over TCP with TCP_NODELAY, so that an SDK client
//! can be pointed at `http://127.0.0.1:PORT`.
//!
//! ```
//! let http_client = eventstream_testkit::sdk_h2c::h2c_http_client();
//! // aws_sdk_transcribestreaming::Config::builder().http_client(http_client) ...
//! # drop(http_client);
//! ```

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// An [`HttpConnector`] that sends every request over cleartext HTTP/2 (prior knowledge) with
/// hyper-util's client; its connection task runs on the current tokio runtime.
#[derive(Clone, Debug)]
pub struct H2cConnector(Client<TcpConnector, SdkBody>);

impl H2cConnector {
    /// A connector with its own connection pool: HTTP/2 only, TCP_NODELAY on every connection.
    pub fn new() -> H2cConnector {
        let mut tcp = TcpConnector::new();
        tcp.set_nodelay(true);
        H2cConnector(
            Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build(tcp),
        )
    }
}

impl Default for H2cConnector {
    fn default() -> H2cConnector {
        H2cConnector::new()
    }
}

impl HttpConnector for H2cConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::io(e.into()))?;
            Response::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's `http_client` for cleartext HTTP/2: one [`H2cConnector`] whatever the settings.
pub fn h2c_http_client() -> SharedHttpClient {
    let connector = SharedHttpConnector::new(H2cConnector::new());
    http_client_fn(move |_, _| connector.clone())
}
