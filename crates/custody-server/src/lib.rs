//! The accept loop custody's services share: one listener for HTTP/1.1 and HTTP/2 (the
//! ledger serves REST and gRPC on it, the gate its webhook), plain or rustls TLS (ALPN h2 and
//! http/1.1, ring provider), the peer's address on every request, graceful shutdown.
//! Kubernetes calls admission webhooks over HTTPS only, so the gate always has TLS.
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// The client's address, put on every request by [`serve`] as an extension, for rate limits
/// and audit lines keyed by caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("reading {path}: {reason}")]
    Pem {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A rustls server configuration (ring provider) from PEM files, offering h2 and http/1.1.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem_err = |p: &Path, e: rustls_pki_types::pem::Error| TlsError::Pem {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.display().to_string(),
            reason: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// in-flight requests finish (up to `grace`), and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()> + Send,
    grace: Duration,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = service_for(router.clone(), peer);
        match &acceptor {
            None => {
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}

fn service_for(
    router: Router,
    peer: SocketAddr,
) -> TowerToHyperService<
    tower::util::MapRequest<
        Router,
        impl FnMut(hyper::Request<Incoming>) -> hyper::Request<Incoming> + Clone,
    >,
> {
    let svc = router.map_request(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        req
    });
    TowerToHyperService::new(svc)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A fresh self-signed certificate for localhost as `<stem>.crt` and `<stem>.key`.
    fn self_signed(dir: &Path, stem: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (
            write(dir, &format!("{stem}.crt"), &made.cert.pem()),
            write(
                dir,
                &format!("{stem}.key"),
                &made.signing_key.serialize_pem(),
            ),
        )
    }

    #[test]
    fn a_certificate_and_key_make_a_config_offering_h2_and_http1() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(tmp.path(), "tls");
        let config = tls_config(&cert, &key).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn bad_pem_files_are_refused_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(tmp.path(), "tls");
        let missing = tmp.path().join("missing.crt");
        let empty = write(tmp.path(), "empty.crt", "not a certificate\n");

        let err = tls_config(&missing, &key).unwrap_err().to_string();
        assert!(err.contains("missing.crt"), "{err}");
        let err = tls_config(&empty, &key).unwrap_err().to_string();
        assert!(
            err.contains("empty.crt") && err.contains("no certificate"),
            "{err}"
        );
        // A certificate where the key should be: no private key in it.
        let err = tls_config(&cert, &cert).unwrap_err().to_string();
        assert!(err.contains("tls.crt"), "{err}");
        // A key that is not the certificate's.
        let (_, other_key) = self_signed(tmp.path(), "other");
        assert!(matches!(
            tls_config(&cert, &other_key),
            Err(TlsError::Rustls(_))
        ));
    }
}
