//! TLS on rustls (the `ring` provider): a certificate chain and a key from
//! PEM files, reloaded when either file changes.
//!
//! The files are checked at every accept, by their modification time and
//! length (two `stat` calls, no timer, no watcher thread): a renewed
//! certificate serves the next connection accepted, connections already open
//! keep theirs. A reload that fails (a key that does not match, a file
//! half written) is logged and the previous certificate stays in force
//! until the files change again.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// A certificate and its key, for [`Serve::tls`](super::Serve::tls): read
/// from PEM files, and read again when the files change (checked at each
/// accept by modification time and length; a failed reload is logged and
/// the previous certificate kept).
///
/// The server offers HTTP/2 and HTTP/1.1 by ALPN (`h2`, `http/1.1`), and
/// TLS 1.3 and 1.2 with rustls' safe defaults, on the `ring` provider.
///
/// ```no_run
/// # fn run() -> Result<(), ws_core::TlsError> {
/// let tls = ws_core::Tls::from_pem_files("/etc/chat/cert.pem", "/etc/chat/key.pem")?;
/// # Ok(())
/// # }
/// ```
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    /// The files as they were last read, successfully or not.
    stamp: Stamp,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Why a certificate or key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid PEM.
    #[error("{}: malformed PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{}: no certificate; expected `-----BEGIN CERTIFICATE-----` blocks, the server's first", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error("{}: no private key; expected a PKCS#8, PKCS#1 or SEC1 key in PEM", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair, e.g. a key that is not the certificate's.
    #[error("the certificate and key cannot be used: {0}")]
    Rustls(#[from] rustls::Error),
}

impl Tls {
    /// Reads the certificate chain (the server's certificate first, then
    /// any intermediates) and the private key from PEM files, checking that
    /// they belong together.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let stamp = Stamp::of(&cert, &key);
        let acceptor = TlsAcceptor::from(Arc::new(server_config(&cert, &key)?));
        Ok(Self {
            cert,
            key,
            stamp,
            acceptor,
        })
    }

    /// The acceptor for a connection accepted now: the files are read again
    /// if they changed since they were last read.
    pub(super) fn acceptor(&mut self) -> TlsAcceptor {
        let stamp = Stamp::of(&self.cert, &self.key);
        if stamp != self.stamp {
            self.stamp = stamp;
            match server_config(&self.cert, &self.key) {
                Ok(config) => {
                    self.acceptor = TlsAcceptor::from(Arc::new(config));
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Err(error) => tracing::error!(
                    %error,
                    "TLS certificate not reloaded; the previous one stays in force"
                ),
            }
        }
        self.acceptor.clone()
    }
}

/// The modification time and length of both files (`None`: unreadable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp([Option<(SystemTime, u64)>; 2]);

impl Stamp {
    fn of(cert: &Path, key: &Path) -> Self {
        let stamp = |path: &Path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        };
        Self([stamp(cert), stamp(key)])
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let pem_error = |path: &Path, source| TlsError::Pem {
        path: path.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| pem_error(cert, source))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let private = match PrivateKeyDer::from_pem_slice(&read(key)?) {
        Ok(private) => private,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: key.to_owned(),
            });
        }
        Err(source) => return Err(pem_error(key, source)),
    };
    // The provider named here, not the process default: a binary in which
    // another crate enables rustls' aws-lc-rs as well would otherwise have
    // no default to pick.
    #[expect(
        deprecated,
        reason = "ring has no post-quantum key exchange, but builds with a C compiler alone; \
                  aws-lc-rs needs cmake and is far heavier to build"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
