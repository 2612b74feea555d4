//! A TLS channel to the API server that trusts only the cluster CA and
//! sends the bearer token with every call.

use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::config::ClientConfig;
use crate::proto::api_client;
use crate::token::Token;

/// The generated client with the token interceptor.
pub type ApiClient = api_client::ApiClient<InterceptedService<Channel, TokenInterceptor>>;

/// Errors connecting.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server URL does not parse.
    #[error("server: invalid value {server:?}")]
    Url {
        /// The URL.
        server: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// TLS set-up or the connection failed.
    #[error("connecting to the API server at {server}")]
    Connect {
        /// The URL.
        server: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Adds `authorization: Bearer <token>` to every request.
#[derive(Debug, Clone)]
pub struct TokenInterceptor {
    token: Token,
}

impl Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut()
            .insert("authorization", self.token.header());
        Ok(req)
    }
}

/// Connects to `config.server` over TLS (verified against the cluster CA).
pub async fn connect(config: &ClientConfig) -> Result<ApiClient, ConnectError> {
    let url_err = |source| ConnectError::Url {
        server: config.server.clone(),
        source,
    };
    let tls =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&config.certificate_authority));
    let endpoint = Endpoint::from_shared(config.server.clone())
        .map_err(url_err)?
        .tls_config(tls)
        .map_err(url_err)?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| ConnectError::Connect {
            server: config.server.clone(),
            source,
        })?;
    Ok(api_client::ApiClient::with_interceptor(
        channel,
        TokenInterceptor {
            token: config.bearer(),
        },
    ))
}
