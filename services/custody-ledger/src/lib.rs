//! The custody ledger: a tamper-evident log of every attestation in an image's chain of
//! custody, and the auditors' view over it.
//!
//! Writers submit DSSE envelopes signed by registered keys. Each becomes a leaf of an RFC 6962
//! Merkle tree (the leaf data is the envelope's canonical JSON, see [`canonical_bytes`]); the
//! answer carries the leaf index, an inclusion proof and a C2SP checkpoint signed with the
//! log's ed25519 key, which is exactly the entry proof file clients keep and verify offline.
//! Appends go through one sequencer task per process that batches concurrent submissions
//! into a single transaction (group commit); on PostgreSQL the tree head row, locked
//! `FOR UPDATE` inside that transaction, serialises any number of replicas into one log.
//!
//! Tree math, proofs and checkpoints are `custody-log`'s; signatures and keys are
//! `custody-attest`'s; version ordering for range queries is `custody-vuln`'s. This crate
//! stores, sequences, indexes and serves: REST/JSON (with an OpenAPI document) and gRPC on
//! one port, over SQLite (default, one file) or PostgreSQL (many stateless replicas).
//!
//! The binary only parses [`Cli`], binds the socket and waits for signals; everything else
//! is here, so tests drive [`build_router`] directly.
#![deny(missing_docs)]

mod advisories;
mod api;
mod audit;
mod auth;
mod blobs;
mod config;
mod db;
mod error;
mod facts;
mod ingest;
mod log;
mod metrics;
mod query;
mod sequencer;
mod signers;
mod state;
mod store;
mod util;

use std::path::PathBuf;

pub use advisories::{
    AdvisoryApiDoc, AdvisoryInfo, AffectedComponent, AffectedImage, AffectedPage, AffectedParams,
    AffectedQuery, Delivered, EVENT, ImportError, ImportReport, NoticeAdvisory, NoticeFinding,
    NoticeImage, NoticeImport, NoticeTotals, NotifyArgs, NotifyConfig, NotifyConfigError,
    OwnerNotice, ReadLimits, SourceError, UndecidedComponent, affected_page, deliver_pending,
    import_path, requeue, set_signer_owner, signer_owners, spawn_background, webhook_signature,
};
pub use api::build_router;
pub use api::grpc::pb;
pub use api::rest::{ApiDoc, Submission};
pub use audit::{AuditError, AuditReport, audit};
pub use auth::create_token;
pub use config::{
    AdvisoriesCommand, Cli, Command, DbArgs, MigrateArgs, ReadAccess, ServeConfig, SignerCommand,
    TokenCommand, TokenRole, VerifyArgs,
};
pub use custody_server::{TlsError, serve, shutdown_signal, tls_config};
pub use db::{Db, DbError};
pub use error::ApiError;
pub use ingest::{WireEnvelope, WireSignature, canonical_bytes};
pub use log::{LogIdentity, LogKeyError};
pub use query::{EntrySummary, ImageCustody, SearchPage};
pub use query::{Search, SearchParams, parse_search_query};
pub use signers::{SignerInfo, add_signer, list_signers};
pub use state::{ApiConfig, AppState};

/// Why the database and log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The log key.
    #[error(transparent)]
    Key(#[from] LogKeyError),
    /// Writing log.pub.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// An opened ledger database.
pub struct Opened {
    /// The pool.
    pub db: Db,
    /// The log's key and origin.
    pub identity: LogIdentity,
    /// Whether this call created the log key (first start).
    pub created: bool,
    /// Where the public key was written (SQLite data directory only).
    pub public_key_file: Option<PathBuf>,
}

/// Connects, applies migrations, creates the tree head and the log key when missing, and
/// (without `--database-url`) writes the public key to `DATA_DIR/log.pub`.
pub async fn open(args: &MigrateArgs) -> Result<Opened, OpenError> {
    let db = Db::connect(&args.db).await?;
    db.migrate().await?;
    store::init_head(&db).await.map_err(DbError::from)?;
    let (identity, created) = LogIdentity::load_or_create(&db, args.origin.as_deref()).await?;
    let public_key_file = if args.db.database_url.is_none() {
        let path = args.db.data_dir.join("log.pub");
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != identity.public_key_pem() {
            std::fs::write(&path, identity.public_key_pem()).map_err(|source| {
                OpenError::Write {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        }
        Some(path)
    } else {
        None
    };
    Ok(Opened {
        db,
        identity,
        created,
        public_key_file,
    })
}
