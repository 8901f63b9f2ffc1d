//! The mock push service: its certificate (and this bench run again with its CA trusted), and
//! a TLS server that checks, counts and answers Web Push requests, on a thread of its own.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::{BenchError, HEADER_LEN, TAG_LEN, TLS_DIR_ENV};

/// Every how many devices the mock keeps a request to decrypt and verify.
const SAMPLE_EVERY: usize = 1_000;
/// The HTTP/2 streams the mock lets a connection have open at once.
const MAX_CONCURRENT_STREAMS: u32 = 100;

/// Makes a CA and a leaf for `127.0.0.1` in a new directory, runs this bench again with the CA
/// as `SSL_CERT_FILE` (the roots the sender's client loads), and exits with its status.
pub(crate) fn run_with_trusted_ca() -> Result<i32, BenchError> {
    let dir = std::env::temp_dir().join(format!("aisoc-bench-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = (|| {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "aisoc fan-out bench CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        leaf_params.use_authority_key_identifier_extension = true;
        let leaf_key = rcgen::KeyPair::generate()?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
        std::fs::write(dir.join("ca.pem"), ca.pem())?;
        std::fs::write(dir.join("cert.der"), leaf.der())?;
        std::fs::write(dir.join("key.der"), leaf_key.serialize_der())?;
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("SSL_CERT_FILE", dir.join("ca.pem"))
            .env(TLS_DIR_ENV, &dir)
            .status()?;
        Ok::<_, BenchError>(status.code().unwrap_or(1))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

pub(crate) fn server_tls(dir: &Path) -> Result<Arc<rustls::ServerConfig>, BenchError> {
    let cert = rustls::pki_types::CertificateDer::from(std::fs::read(dir.join("cert.der"))?);
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(std::fs::read(dir.join("key.der"))?);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key.into())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------------------------
// The mock push service.

/// A request kept to decrypt and verify after the round.
pub(crate) struct Sample {
    pub(crate) index: usize,
    pub(crate) authorization: String,
    pub(crate) body: Bytes,
}

/// Counts, checks and answers Web Push requests.
pub(crate) struct MockPushService {
    pub(crate) per_device: Vec<AtomicU32>,
    accepted: AtomicUsize,
    http2: AtomicUsize,
    refused: AtomicUsize,
    first_refusal: Mutex<Option<&'static str>>,
    pub(crate) samples: Mutex<Vec<Sample>>,
}

impl MockPushService {
    pub(crate) fn new(devices: usize) -> Self {
        Self {
            per_device: (0..devices).map(|_| AtomicU32::new(0)).collect(),
            accepted: AtomicUsize::new(0),
            http2: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            first_refusal: Mutex::new(None),
            samples: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn reset(&self) {
        for seen in &self.per_device {
            seen.store(0, Ordering::Relaxed);
        }
        self.accepted.store(0, Ordering::SeqCst);
        self.http2.store(0, Ordering::SeqCst);
        self.refused.store(0, Ordering::SeqCst);
        *self.first_refusal.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return self.refuse("the body could not be read"),
        };
        let index = match check_push_request(&parts, &body, self.per_device.len()) {
            Ok(index) => index,
            Err(reason) => return self.refuse(reason),
        };
        self.per_device[index].fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::SeqCst);
        if parts.version == Version::HTTP_2 {
            self.http2.fetch_add(1, Ordering::SeqCst);
        }
        if index % SAMPLE_EVERY == 0 {
            let authorization = header(&parts, "authorization").unwrap_or_default();
            self.samples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Sample {
                    index,
                    authorization: authorization.to_owned(),
                    body,
                });
        }
        Response::builder()
            .status(StatusCode::CREATED)
            .header("location", format!("/m/{index}"))
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()
    }

    pub(crate) fn refuse(&self, reason: &'static str) -> Response<Full<Bytes>> {
        self.refused.fetch_add(1, Ordering::SeqCst);
        self.first_refusal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
        let mut response = Response::new(Full::new(Bytes::from_static(br#"{"errno":999}"#)));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response
    }

    /// Checks a round: every device exactly once, nothing refused, over the expected protocol.
    pub(crate) fn check_round(&self, devices: usize, over_http2: bool) -> Result<(), BenchError> {
        let refused = self.refused.load(Ordering::SeqCst);
        if refused > 0 {
            let reason = self
                .first_refusal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or("unknown");
            return Err(format!("the mock refused {refused} request(s), e.g.: {reason}").into());
        }
        let once = self.per_device[..devices]
            .iter()
            .filter(|seen| seen.load(Ordering::Relaxed) == 1)
            .count();
        let accepted = self.accepted.load(Ordering::SeqCst);
        if once != devices || accepted != devices {
            return Err(format!(
                "{accepted} requests for {devices} devices, {once} devices reached exactly once"
            )
            .into());
        }
        let http2 = self.http2.load(Ordering::SeqCst);
        let expected = if over_http2 { devices } else { 0 };
        if http2 != expected {
            return Err(format!("{http2} of {devices} requests came over HTTP/2").into());
        }
        Ok(())
    }
}

pub(crate) fn header<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The device index of a well-formed Web Push request, or why it is not one.
pub(crate) fn check_push_request(
    parts: &http::request::Parts,
    body: &[u8],
    devices: usize,
) -> Result<usize, &'static str> {
    if parts.method != Method::POST {
        return Err("not a POST");
    }
    let index = parts
        .uri
        .path()
        .strip_prefix("/push/")
        .and_then(|i| i.parse::<usize>().ok())
        .filter(|i| *i < devices)
        .ok_or("not a device path")?;
    if header(parts, "content-encoding") != Some("aes128gcm") {
        return Err("Content-Encoding is not aes128gcm");
    }
    header(parts, "ttl")
        .and_then(|ttl| ttl.parse::<u64>().ok())
        .ok_or("no TTL")?;
    header(parts, "authorization")
        .and_then(vapid_parameters)
        .ok_or("no vapid t=…, k=… Authorization")?;
    if body.len() < HEADER_LEN + 1 + TAG_LEN || body.len() > 4096 {
        return Err("the body is not one aes128gcm record");
    }
    if body[16..20] != 4096u32.to_be_bytes() || body[20] != 65 || body[21] != 0x04 {
        return Err("the aes128gcm header is not a 4096-byte record with a P-256 key id");
    }
    Ok(index)
}

/// `t` and `k` of a `vapid t=…, k=…` header (with or without the space).
pub(crate) fn vapid_parameters(authorization: &str) -> Option<(&str, &str)> {
    let parameters = authorization.strip_prefix("vapid ")?;
    let mut token = None;
    let mut key = None;
    for parameter in parameters.split(',') {
        match parameter.trim().split_once('=') {
            Some(("t", value)) => token = Some(value),
            Some(("k", value)) => key = Some(value),
            _ => {}
        }
    }
    Some((token?, key?))
}

/// Starts the mock on `127.0.0.1` on a thread of its own running a single-threaded runtime (as
/// another process would be, and as a thread-per-core server is): its connection task and the
/// requests' tasks share that thread, so the answers that are ready when the connection is
/// next polled leave together, without waking a second thread for each. The thread lives as
/// long as the process.
pub(crate) fn start_mock(
    mock: Arc<MockPushService>,
    tls: Arc<rustls::ServerConfig>,
) -> Result<SocketAddr, BenchError> {
    let (started, addr) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("mock-push-service".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => return drop(started.send(Err(BenchError::from(error)))),
            };
            let served = runtime.block_on(serve_mock(mock, tls));
            let _ = started.send(served);
            runtime.block_on(std::future::pending::<()>());
        })?;
    addr.recv()?
}

/// Binds `127.0.0.1` and accepts connections in a task of the current runtime.
async fn serve_mock(
    mock: Arc<MockPushService>,
    tls: Arc<rustls::ServerConfig>,
) -> Result<SocketAddr, BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let mock = Arc::clone(&mock);
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| {
                    let mock = Arc::clone(&mock);
                    async move { Ok::<_, Infallible>(mock.handle(request).await) }
                });
                let mut server = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                // Set rather than left to hyper's default (200): the least RFC 9113 recommends
                // a server allow, so the fan-out's pushes beyond 100 wait for a stream here as
                // they would at a real push service.
                server
                    .http2()
                    .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
                let _ = server.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(addr)
}
