//! Everything a request handler needs, shared behind one `Arc`.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Gatekeeper;
use crate::config::{ReadAccess, ServeConfig};
use crate::db::Db;
use crate::log::LogIdentity;
use crate::metrics::Metrics;
use crate::sequencer::Sequencer;
use crate::signers::SignerCache;

/// Limits and access rules of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Who may read.
    pub reads: ReadAccess,
    /// Largest JSON request body.
    pub body_limit: usize,
    /// Largest blob.
    pub blob_limit: u64,
    /// Requests per second per caller (0 = unlimited).
    pub rate_limit: u32,
    /// Request timeout (blob transfers get ten times this).
    pub request_timeout: Duration,
    /// Most envelopes per append transaction.
    pub batch_max: usize,
    /// How owners are told about newly affected images (advisory imports over REST).
    pub notify: crate::advisories::NotifyConfig,
}

impl ApiConfig {
    /// The API part of the serve configuration.
    pub fn from_serve(c: &ServeConfig) -> ApiConfig {
        ApiConfig {
            reads: c.reads,
            body_limit: c.body_limit,
            blob_limit: c.blob_limit,
            rate_limit: c.rate_limit,
            request_timeout: c.request_timeout(),
            batch_max: c.batch_max,
            notify: crate::advisories::NotifyConfig::default(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            reads: ReadAccess::Open,
            body_limit: 64 << 20,
            blob_limit: 1 << 30,
            rate_limit: 0,
            request_timeout: Duration::from_secs(30),
            batch_max: 1024,
            notify: crate::advisories::NotifyConfig::default(),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) db: Db,
    pub(crate) identity: LogIdentity,
    pub(crate) sequencer: Sequencer,
    pub(crate) signers: SignerCache,
    pub(crate) metrics: Metrics,
    pub(crate) gate: Gatekeeper,
    pub(crate) config: ApiConfig,
}

/// The shared state of the REST and gRPC handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Metrics registration failed.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl AppState {
    /// Builds the state and starts the sequencer task (which ends once every clone of the
    /// state is dropped and its queue is drained).
    pub fn new(
        db: Db,
        identity: LogIdentity,
        config: ApiConfig,
    ) -> Result<(AppState, tokio::task::JoinHandle<()>), StateError> {
        let metrics = Metrics::new()?;
        let (sequencer, handle) = Sequencer::spawn(
            db.clone(),
            identity.clone(),
            config.batch_max,
            metrics.clone(),
        );
        let state = AppState {
            inner: Arc::new(Inner {
                signers: SignerCache::new(db.clone()),
                gate: Gatekeeper::new(db.clone(), config.rate_limit),
                db,
                identity,
                sequencer,
                metrics,
                config,
            }),
        };
        Ok((state, handle))
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The log identity.
    pub fn identity(&self) -> &LogIdentity {
        &self.inner.identity
    }
}
