//! A local HTTPS peer for tests of what goes over TLS: a CA and a `127.0.0.1` certificate made
//! at start, HTTP/2 and/or HTTP/1.1 as ALPN offers them, each request recorded and answered as
//! the test says. wiremock serves plain HTTP/1.1 only, which never reaches the direct HTTP/2
//! path of [`DeliveryClient::send_bytes`](crate::delivery::DeliveryClient::send_bytes).
//!
//! ```
//! use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
//! use aisoc_notify_core::destination::DestinationPolicy;
//! use aisoc_notify_core::tls_peer::{Answer, Protocols, TlsPeer};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let peer = TlsPeer::start(Protocols::Http2, |_| Answer::status(201)).await;
//! let client = DeliveryClient::new(DeliveryConfig {
//!     trusted_roots: vec![peer.ca_der().to_vec()],
//!     destinations: DestinationPolicy::guarded().allow("127.0.0.1").unwrap(),
//!     ..DeliveryConfig::default()
//! })
//! .unwrap();
//! let url = peer.url("/push/1");
//! let response = client
//!     .send_bytes(http::Method::POST, url, http::HeaderMap::new(), "hello".into())
//!     .await
//!     .unwrap();
//! assert_eq!(response.status, 201);
//! assert_eq!(peer.requests()[0].version, http::Version::HTTP_2);
//! # });
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Which protocols the peer offers by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    /// `h2` only.
    Http2,
    /// `http/1.1` only.
    Http1,
}

/// A request as the peer received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The connection it came on, counted from 0.
    pub connection: usize,
    /// The protocol.
    pub version: http::Version,
    /// Method.
    pub method: http::Method,
    /// Path and query.
    pub path: String,
    /// Headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// What the peer answers to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
    delay: Option<Duration>,
    /// Close the connection after this answer (HTTP/2 GOAWAY, HTTP/1.1 `Connection: close`).
    close: bool,
}

impl Answer {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: None,
            close: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Answers only after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Closes the connection once this answer is sent.
    pub fn then_close(mut self) -> Self {
        self.close = true;
        self
    }
}

type Respond = dyn Fn(&Received) -> Answer + Send + Sync;

struct State {
    respond: Box<Respond>,
    received: Mutex<Vec<Received>>,
    connections: AtomicUsize,
}

/// The running peer; it stops when dropped.
pub struct TlsPeer {
    addr: SocketAddr,
    ca_der: Vec<u8>,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPeer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for TlsPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsPeer {
    /// Starts a peer on `127.0.0.1` offering `protocols`, answering each request with
    /// `respond(&request)`.
    ///
    /// # Panics
    /// When the certificate cannot be made or the port bound (a broken test machine).
    pub async fn start(
        protocols: Protocols,
        respond: impl Fn(&Received) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let (tls, ca_der) = server_config(protocols);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State {
            respond: Box::new(respond),
            received: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
        });
        let acceptor = TlsAcceptor::from(tls);
        let serving = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let connection = serving.connections.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve(
                    acceptor.clone(),
                    tcp,
                    Arc::clone(&serving),
                    connection,
                ));
            }
        });
        Self {
            addr,
            ca_der,
            state,
            task,
        }
    }

    /// `https://127.0.0.1:<port><path>`.
    ///
    /// # Panics
    /// When `path` does not make a URL.
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("https://{}{path}", self.addr)).expect("a URL")
    }

    /// The CA certificate (DER) to trust.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

async fn serve(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    state: Arc<State>,
    connection: usize,
) {
    let Ok(tls) = acceptor.accept(tcp).await else {
        return;
    };
    let (close_tx, mut close_rx) = tokio::sync::mpsc::channel::<()>(1);
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (state, close_tx) = (Arc::clone(&state), close_tx.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let received = Received {
                    connection,
                    version: parts.version,
                    method: parts.method,
                    path: parts
                        .uri
                        .path_and_query()
                        .map_or_else(String::new, ToString::to_string),
                    headers: parts.headers,
                    body,
                };
                let answer = (state.respond)(&received);
                state
                    .received
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(received);
                if let Some(delay) = answer.delay {
                    tokio::time::sleep(delay).await;
                }
                let mut response = hyper::Response::builder().status(answer.status);
                for (name, value) in &answer.headers {
                    response = response.header(*name, value.as_str());
                }
                if answer.close {
                    let _ = close_tx.try_send(());
                }
                let response = response
                    .body(Full::new(answer.body))
                    .expect("a valid answer");
                Ok::<_, Infallible>(response)
            }
        });
    let server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = server.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        Some(()) = close_rx.recv() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

fn server_config(protocols: Protocols) -> (Arc<rustls::ServerConfig>, Vec<u8>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "aisoc test CA");
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("leaf parameters");
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .expect("leaf certificate");
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key.into())
    .expect("the leaf certificate");
    config.alpn_protocols = match protocols {
        Protocols::Http2 => vec![b"h2".to_vec()],
        Protocols::Http1 => vec![b"http/1.1".to_vec()],
    };
    (Arc::new(config), ca.der().to_vec())
}
