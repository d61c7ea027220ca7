//! Command line and environment configuration, parsed once in `main` and passed down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use custody_types::Role;

/// The custody ledger: a tamper-evident log of signed attestations, on SQLite or PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "custody-ledger", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The ledger's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST and gRPC APIs (creating and migrating the database first).
    Serve(ServeConfig),
    /// Create or upgrade the database schema and the log key, then exit.
    Migrate(MigrateArgs),
    /// Manage the keys allowed to write.
    #[command(subcommand)]
    Signer(SignerCommand),
    /// Manage bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Recompute the tree from the stored leaves; check every stored node and checkpoint.
    Verify(VerifyArgs),
    /// Import OSV advisories and re-evaluate the recorded images against them.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Folder of the embedded SQLite database (ledger.db) and log.pub; created if missing.
    #[arg(long, env = "CUSTODY_LEDGER_DATA_DIR", default_value = "custody-data")]
    pub data_dir: PathBuf,
    /// sqlite://PATH or postgres://... ; overrides --data-dir for the database.
    #[arg(long, env = "CUSTODY_LEDGER_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Most connections in the pool.
    #[arg(long, env = "CUSTODY_LEDGER_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
}

/// `custody-ledger migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Database location.
    #[command(flatten)]
    pub db: DbArgs,
    /// The log's origin line for checkpoints, used only when the log is created.
    #[arg(long, env = "CUSTODY_LEDGER_ORIGIN")]
    pub origin: Option<String>,
}

/// Who may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadAccess {
    /// Anyone may read entries, proofs, checkpoints and search (a transparency log's default).
    Open,
    /// Reads need an auditor (or admin) token.
    Auditor,
}

/// `custody-ledger serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Database location and log creation.
    #[command(flatten)]
    pub migrate: MigrateArgs,
    /// Address to listen on, for REST and gRPC alike.
    #[arg(long, env = "CUSTODY_LEDGER_LISTEN", default_value = "127.0.0.1:8480")]
    pub listen: SocketAddr,
    /// PEM certificate chain; with --tls-key, serve HTTPS (rustls).
    #[arg(long, env = "CUSTODY_LEDGER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "CUSTODY_LEDGER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Who may read.
    #[arg(long, env = "CUSTODY_LEDGER_READS", value_enum, default_value_t = ReadAccess::Open)]
    pub reads: ReadAccess,
    /// Largest request body for entries and searches, in bytes.
    #[arg(long, env = "CUSTODY_LEDGER_BODY_LIMIT", default_value_t = 64 << 20)]
    pub body_limit: usize,
    /// Largest blob upload, in bytes (default 1 GiB).
    #[arg(long, env = "CUSTODY_LEDGER_BLOB_LIMIT", default_value_t = 1 << 30)]
    pub blob_limit: u64,
    /// Requests per second allowed per token (or per client address without one); 0 = no limit.
    #[arg(long, env = "CUSTODY_LEDGER_RATE_LIMIT", default_value_t = 2000)]
    pub rate_limit: u32,
    /// Seconds before a request is abandoned with 408/503 (blob uploads get ten times this).
    #[arg(long, env = "CUSTODY_LEDGER_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Most envelopes the sequencer commits in one transaction.
    #[arg(long, env = "CUSTODY_LEDGER_BATCH_MAX", default_value_t = 1024)]
    pub batch_max: usize,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "CUSTODY_LEDGER_LOG_JSON")]
    pub log_json: bool,
    /// How owners are told when an advisory import (REST) makes their images affected.
    #[command(flatten)]
    pub notify: crate::advisories::NotifyArgs,
}

impl ServeConfig {
    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
}

/// `custody-ledger signer ...`.
#[derive(Debug, Subcommand)]
pub enum SignerCommand {
    /// Register a public key (PEM SPKI; ed25519 or P-256) with a role.
    Add {
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// The public key file.
        key: PathBuf,
        /// The key's role.
        #[arg(long)]
        role: Role,
        /// Free text kept with the key (who holds it).
        #[arg(long, default_value = "")]
        comment: String,
        /// Email address of whoever answers for what the key signs: the owners of the keys
        /// that signed an image's provenance are notified when an advisory affects it.
        #[arg(long, value_name = "EMAIL")]
        owner: Option<String>,
    },
    /// Set (or with --clear remove) the owner of a registered key.
    SetOwner {
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// The key ID (hex SHA-256 of the SPKI DER).
        key_id: String,
        /// The owner's email address.
        #[arg(required_unless_present = "clear", conflicts_with = "clear")]
        owner: Option<String>,
        /// Remove the owner.
        #[arg(long)]
        clear: bool,
    },
    /// List the registered keys.
    List {
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
    },
}

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum TokenRole {
    /// May append entries and upload blobs (and read).
    Writer,
    /// May read when reads are restricted.
    Auditor,
    /// May do everything, including registering signers.
    Admin,
}

impl TokenRole {
    /// The role's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Writer => "writer",
            TokenRole::Auditor => "auditor",
            TokenRole::Admin => "admin",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<TokenRole> {
        match s {
            "writer" => Some(TokenRole::Writer),
            "auditor" => Some(TokenRole::Auditor),
            "admin" => Some(TokenRole::Admin),
            _ => None,
        }
    }
}

/// `custody-ledger token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token and print it (only its hash is stored).
    Create {
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: TokenRole,
        /// Free text kept with the token (who holds it).
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// `custody-ledger advisories ...`.
#[derive(Debug, Subcommand)]
pub enum AdvisoriesCommand {
    /// Load OSV records (a folder, a .json record or an osv.dev .zip export), evaluate the new
    /// and updated ones against every recorded image, and notify the owners of images they
    /// newly affect. Atomic: on any error nothing is stored.
    Import {
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// The records.
        path: PathBuf,
        /// How owners are told.
        #[command(flatten)]
        notify: crate::advisories::NotifyArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send the messages still in the outbox (after failures: failed ones are retried).
    Redeliver {
        /// Database location.
        #[command(flatten)]
        db: DbArgs,
        /// How owners are told.
        #[command(flatten)]
        notify: crate::advisories::NotifyArgs,
    },
}

/// `custody-ledger verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Database location.
    #[command(flatten)]
    pub db: DbArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
