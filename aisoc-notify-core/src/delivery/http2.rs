//! The direct HTTP/2 path of [`DeliveryClient::send_bytes`](super::DeliveryClient::send_bytes):
//! one `h2` connection per origin, requests written from the caller's task straight into the
//! connection's stream table.
//!
//! Why it exists: a Web Push fan-out sends thousands of small requests to the same push
//! service, and reqwest's layers around each of them (its redirect and retry copies of the
//! request, the whole header map cloned for hyper, the URL formatted and parsed again into a
//! URI, hyper-util's pool checkout, hyper's hop to its connection task) cost as much as the
//! exchange. On the two-core development VM (`cargo bench -p aisoc-notify-benches --bench
//! fanout`) a push took 91.6 µs of CPU through reqwest and about 80 this way, of which the
//! encryption is 56.
//!
//! What it keeps of the reqwest path: the destination guard (an IP literal is judged before
//! anything happens, a name is resolved through the policy's lookup and only its allowed
//! addresses are dialled), the connect and request timeouts, the capped response body, the
//! system's trust roots plus [`DeliveryConfig::trusted_roots`](super::DeliveryConfig), and the
//! retry loop, which is the same loop. Only `https` origins that choose `h2` by ALPN take this
//! path; an origin that does not is remembered and its requests go through reqwest, as do
//! plain-`http` ones (loopback test servers) and origins past [`MAX_ORIGINS`].
//!
//! A connection lives until its peer closes it (push services close idle connections
//! themselves), it fails, or a request on it goes unanswered until the timeout (a peer that
//! stopped answering can keep its TCP connection open); the next request then dials a new
//! one. A request the connection never started (it had closed, or the peer refused the stream)
//! is sent on the new one at once and is not counted as an attempt.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

use super::{DeliveryConfig, DeliveryError};
use crate::destination::ForbiddenDestination;

/// The most origins kept with a connection of their own; requests to others go through reqwest.
pub const MAX_ORIGINS: usize = 256;

/// An origin's scheme-less key: host and port.
type OriginKey = (String, u16);

/// The direct connections of one [`DeliveryClient`](super::DeliveryClient).
#[derive(Default)]
pub(super) struct Http2Origins {
    /// Built on first use: loading the system's roots takes milliseconds.
    tls: OnceLock<Result<TlsConnector, String>>,
    origins: Mutex<HashMap<OriginKey, Arc<Origin>>>,
}

impl std::fmt::Debug for Http2Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origins = self.origins.lock().map_or(0, |o| o.len());
        f.debug_struct("Http2Origins")
            .field("origins", &origins)
            .finish_non_exhaustive()
    }
}

/// One origin: its live connection, if any, and whether it speaks `h2` at all.
#[derive(Default)]
struct Origin {
    live: Mutex<Option<Connection>>,
    /// Held while dialling, so that concurrent first requests share one connection.
    dialling: tokio::sync::Mutex<()>,
    /// The origin answered ALPN without `h2`: reqwest carries its requests.
    http1_only: AtomicBool,
}

#[derive(Clone)]
struct Connection {
    sender: SendRequest<Bytes>,
    /// Set when the connection's task ends or a request finds it unusable.
    closed: Arc<AtomicBool>,
}

impl Connection {
    fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }
}

impl Origin {
    /// What needs no dialling: `Some(None)` when the origin has no `h2`, `Some(connection)`
    /// when it has an open one.
    fn known(&self) -> Option<Option<Connection>> {
        if self.http1_only.load(Ordering::Relaxed) {
            return Some(None);
        }
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.as_ref().filter(|c| c.is_open()).cloned().map(Some)
    }
}

/// What one attempt over `h2` came to.
pub(super) enum Exchange {
    /// The origin does not take this path; send through reqwest.
    NotHttp2,
    /// The answer, its body not read yet.
    Answered(http::Response<h2::RecvStream>),
}

/// Why an attempt failed, before it is numbered.
pub(super) enum Failure {
    /// Nothing was sent (no connection could be made, or the peer refused the stream).
    Unsent(String),
    /// The exchange broke after the request left.
    Broken(String),
    /// The attempt ran out of time.
    TimedOut,
    /// The destination is forbidden.
    Forbidden(ForbiddenDestination),
}

impl Failure {
    pub(super) fn into_error(self, host: &str, attempts: u32) -> DeliveryError {
        let host = host.to_owned();
        match self {
            Failure::Unsent(reason) => {
                // The error names the host only; the reason (which may quote a peer) is logged.
                tracing::debug!(%host, %reason, "no HTTP/2 exchange");
                DeliveryError::Connect { host, attempts }
            }
            Failure::TimedOut => DeliveryError::Timeout { host, attempts },
            Failure::Broken(reason) => DeliveryError::Request { host, reason },
            Failure::Forbidden(refusal) => DeliveryError::Forbidden(refusal),
        }
    }
}

impl Http2Origins {
    /// The origin for `url`, unless it cannot take this path.
    fn origin(&self, url: &url::Url) -> Option<Arc<Origin>> {
        if url.scheme() != "https" {
            return None;
        }
        let key = (
            url.host_str()?.to_ascii_lowercase(),
            url.port_or_known_default()?,
        );
        let mut origins = self.origins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(origin) = origins.get(&key) {
            return Some(Arc::clone(origin));
        }
        if origins.len() >= MAX_ORIGINS {
            return None;
        }
        let origin = Arc::new(Origin::default());
        origins.insert(key, Arc::clone(&origin));
        Some(origin)
    }

    fn connector(&self, config: &DeliveryConfig) -> Result<TlsConnector, String> {
        self.tls.get_or_init(|| tls_connector(config)).clone()
    }

    /// One attempt: the request (`build` makes it) over the origin's connection, dialling one
    /// if needed, within the request timeout.
    pub(super) async fn exchange(
        &self,
        config: &DeliveryConfig,
        url: &url::Url,
        build: impl Fn() -> http::Request<()>,
        body: Bytes,
    ) -> Result<Exchange, Failure> {
        let Some(origin) = self.origin(url) else {
            return Ok(Exchange::NotHttp2);
        };
        // The connection the attempt used, so that it is not reused if the answer never came
        // (a peer that stopped answering keeps its TCP connection open).
        let used = Mutex::new(None::<Arc<AtomicBool>>);
        let attempt = async {
            // A connection found closed, or a stream the peer refused, costs one more try on a
            // fresh connection: the request was never processed.
            let mut unsent = String::new();
            for _ in 0..2 {
                let Some(connection) = self.connection(config, url, &origin).await? else {
                    return Ok(Exchange::NotHttp2);
                };
                *used.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Arc::clone(&connection.closed));
                match send(&connection, build(), body.clone()).await {
                    Ok(response) => return Ok(Exchange::Answered(response)),
                    Err(Sent::Not(reason)) => {
                        connection.closed.store(true, Ordering::Release);
                        unsent = reason;
                    }
                    Err(Sent::Broken(reason)) => return Err(Failure::Broken(reason)),
                }
            }
            Err(Failure::Unsent(unsent))
        };
        match tokio::time::timeout(config.request_timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let used = used.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(closed) = used {
                    closed.store(true, Ordering::Release);
                }
                Err(Failure::TimedOut)
            }
        }
    }

    async fn connection(
        &self,
        config: &DeliveryConfig,
        url: &url::Url,
        origin: &Origin,
    ) -> Result<Option<Connection>, Failure> {
        if let Some(known) = origin.known() {
            return Ok(known);
        }
        let _dialling = origin.dialling.lock().await;
        // Whoever dialled while this request waited may have connected, or found no `h2`.
        if let Some(known) = origin.known() {
            return Ok(known);
        }
        // Boxed: dialling (DNS, TCP, TLS, the HTTP/2 preface) is a large future that most
        // requests never poll, and every request's future would otherwise carry its room.
        let dial = Box::pin(self.dial(config, url));
        let dialled = tokio::time::timeout(config.connect_timeout, dial)
            .await
            .unwrap_or(Err(Failure::TimedOut))?;
        let Some(connection) = dialled else {
            origin.http1_only.store(true, Ordering::Relaxed);
            return Ok(None);
        };
        *origin.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection.clone());
        Ok(Some(connection))
    }

    /// TCP to the first allowed address that answers, TLS with ALPN `h2`, the HTTP/2 preface.
    /// `None` when the peer chose another protocol.
    async fn dial(
        &self,
        config: &DeliveryConfig,
        url: &url::Url,
    ) -> Result<Option<Connection>, Failure> {
        let host = url.host_str().ok_or(Failure::Unsent("no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses = allowed_addresses(config, url, host).await?;
        let mut last_error = String::from("no address to connect to");
        let mut stream = None;
        for ip in addresses {
            match TcpStream::connect(SocketAddr::new(ip, port)).await {
                Ok(tcp) => {
                    stream = Some(tcp);
                    break;
                }
                Err(error) => last_error = error.to_string(),
            }
        }
        let tcp = stream.ok_or(Failure::Unsent(last_error))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']))
            .map_err(|e| Failure::Unsent(e.to_string()))?
            .to_owned();
        let connector = self.connector(config).map_err(Failure::Unsent)?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| Failure::Unsent(e.to_string()))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Ok(None);
        }
        let (sender, connection) = h2::client::Builder::new()
            .enable_push(false)
            .handshake::<_, Bytes>(tls)
            .await
            .map_err(|e| Failure::Unsent(e.to_string()))?;
        let closed = Arc::new(AtomicBool::new(false));
        let on_close = Arc::clone(&closed);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "an HTTP/2 delivery connection ended");
            }
            on_close.store(true, Ordering::Release);
        });
        Ok(Some(Connection { sender, closed }))
    }
}

/// The addresses of `url`'s host that the destination policy lets us dial. An IP literal was
/// judged by [`send_bytes`](super::DeliveryClient::send_bytes) before anything else; a name is
/// judged here by what it resolves to.
async fn allowed_addresses(
    config: &DeliveryConfig,
    url: &url::Url,
    host: &str,
) -> Result<Vec<std::net::IpAddr>, Failure> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![ip.into()]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![ip.into()]),
        _ => {
            let found = config
                .lookup
                .lookup(host)
                .await
                .map_err(|e| Failure::Unsent(e.to_string()))?;
            config
                .destinations
                .permitted(host, found)
                .map_err(Failure::Forbidden)
        }
    }
}

/// Whether a failed request left the connection.
enum Sent {
    /// It did not: the connection was closed or the peer refused the stream.
    Not(String),
    /// It did, and the exchange broke.
    Broken(String),
}

async fn send(
    connection: &Connection,
    request: http::Request<()>,
    body: Bytes,
) -> Result<http::Response<h2::RecvStream>, Sent> {
    let not_sent = |error: h2::Error| Sent::Not(error.to_string());
    let mut sender = connection.sender.clone().ready().await.map_err(not_sent)?;
    let (response, mut stream) = sender
        .send_request(request, body.is_empty())
        .map_err(not_sent)?;
    if !body.is_empty() {
        stream.reserve_capacity(body.len());
        stream
            .send_data(body, true)
            .map_err(|error| Sent::Broken(error.to_string()))?;
    }
    response.await.map_err(|error| {
        if error.reason() == Some(h2::Reason::REFUSED_STREAM) {
            Sent::Not(error.to_string())
        } else {
            Sent::Broken(error.to_string())
        }
    })
}

/// Reads an `h2` body up to `max` bytes, giving its flow-control window back as it goes.
pub(super) async fn read_capped(
    body: &mut h2::RecvStream,
    max: usize,
) -> Result<(Bytes, bool), String> {
    let mut read = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if super::append_capped(&mut read, &chunk, max) {
            return Ok((read.freeze(), true));
        }
    }
    Ok((read.freeze(), false))
}

/// The TLS client: the system's roots (as reqwest's) plus the configured ones. ALPN offers
/// `http/1.1` too, so that a peer without `h2` says so instead of failing the handshake.
fn tls_connector(config: &DeliveryConfig) -> Result<TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra = config
        .trusted_roots
        .iter()
        .map(|der| rustls::pki_types::CertificateDer::from(der.clone()));
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| e.to_string())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(tls)))
}
