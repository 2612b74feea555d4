//! A real TLS handshake: the server's certificate from `Pki` verifies
//! against the CA in the client's credentials (and not against another CA),
//! including after a restart that reuses the CA.

use std::net::SocketAddr;

use berth_client::proto::api_server::{Api, ApiServer};
use berth_client::proto::{
    BindRequest, BootstrapToken, DeleteRequest, ListReply, ListRequest, NodeCredential,
    NodeCredentialRequest, ObjectKey, ObjectReply, RevokeReply, RotateBootstrapRequest, WatchEvent,
    WatchRequest, WriteRequest,
};
use berth_client::{ClientConfig, connect};
use berth_control::pki::Pki;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

#[derive(Debug)]
struct Nothing;

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for Nothing {
    async fn create(&self, _: Request<WriteRequest>) -> Reply<ObjectReply> {
        Err(Status::unimplemented("test"))
    }
    async fn update(&self, _: Request<WriteRequest>) -> Reply<ObjectReply> {
        Err(Status::unimplemented("test"))
    }
    async fn apply(&self, _: Request<WriteRequest>) -> Reply<ObjectReply> {
        Err(Status::unimplemented("test"))
    }
    async fn update_status(&self, _: Request<WriteRequest>) -> Reply<ObjectReply> {
        Err(Status::unimplemented("test"))
    }
    async fn bind(&self, _: Request<BindRequest>) -> Reply<ObjectReply> {
        Err(Status::unimplemented("test"))
    }
    async fn get(&self, r: Request<ObjectKey>) -> Reply<ObjectReply> {
        let auth = r
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        Err(Status::not_found(auth.unwrap_or("none").to_owned()))
    }
    async fn delete(&self, _: Request<DeleteRequest>) -> Reply<ObjectReply> {
        Err(Status::unimplemented("test"))
    }
    async fn list(&self, _: Request<ListRequest>) -> Reply<ListReply> {
        Err(Status::unimplemented("test"))
    }
    type WatchStream = tokio_stream::Empty<Result<WatchEvent, Status>>;
    async fn watch(&self, _: Request<WatchRequest>) -> Reply<Self::WatchStream> {
        Err(Status::unimplemented("test"))
    }
    async fn issue_node_credential(
        &self,
        _: Request<NodeCredentialRequest>,
    ) -> Reply<NodeCredential> {
        Err(Status::unimplemented("test"))
    }
    async fn revoke_node_credential(
        &self,
        _: Request<NodeCredentialRequest>,
    ) -> Reply<RevokeReply> {
        Err(Status::unimplemented("test"))
    }
    async fn rotate_bootstrap_token(
        &self,
        _: Request<RotateBootstrapRequest>,
    ) -> Reply<BootstrapToken> {
        Err(Status::unimplemented("test"))
    }
}

async fn serve(pki: &Pki) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity = Identity::from_pem(&pki.server_cert_pem, &pki.server_key_pem);
    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(identity))
        .unwrap()
        .add_service(ApiServer::new(Nothing));
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(server.serve_with_incoming(incoming));
    addr
}

fn credentials(addr: SocketAddr, ca: &str) -> ClientConfig {
    ClientConfig {
        server: format!("https://{addr}"),
        certificate_authority: ca.to_owned(),
        token: "t0ken".into(),
        token_file: None,
    }
}

#[tokio::test]
async fn client_trusts_the_cluster_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    Pki::load_or_create(dir.path(), &[]).unwrap();
    // A restart: same CA, new server certificate.
    let pki = Pki::load_or_create(dir.path(), &[]).unwrap();
    let addr = serve(&pki).await;
    let mut client = connect(&credentials(addr, &pki.ca_pem)).await.unwrap();
    let status = client.get(ObjectKey::default()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "Bearer t0ken");

    let other = tempfile::tempdir().unwrap();
    let stranger = Pki::load_or_create(other.path(), &[]).unwrap();
    let failed = match connect(&credentials(addr, &stranger.ca_pem)).await {
        Err(_) => true,
        Ok(mut c) => {
            c.get(ObjectKey::default()).await.unwrap_err().code() == tonic::Code::Unavailable
        }
    };
    assert!(failed, "a certificate from another CA was accepted");
}
