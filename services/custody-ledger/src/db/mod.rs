//! The database: one connection pool over SQLite or PostgreSQL, with the same SQL for both
//! where the engines agree (`$N` placeholders work on both) and per-engine migrations.
//!
//! Every query is written once inside [`on_db!`], which expands it for each engine's pool, so
//! the two engines cannot drift apart in what they store.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::DbArgs;

/// Migrations of the SQLite schema, embedded in the binary.
pub(crate) static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
/// Migrations of the PostgreSQL schema, embedded in the binary.
pub(crate) static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// A pool on one of the two engines.
#[derive(Clone, Debug)]
pub enum Db {
    /// The embedded single-file database (one machine).
    Sqlite(SqlitePool),
    /// A shared server (many stateless replicas).
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the engine's pool (the body is compiled once per engine).
#[macro_export]
#[doc(hidden)]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither sqlite:// nor postgres://.
    #[error("database url {0:?} is neither sqlite:// nor postgres://")]
    Scheme(String),
    /// The data directory could not be created.
    #[error("creating data directory {path}: {source}")]
    DataDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting or querying failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens (and for SQLite creates) the database `args` names, without migrating it.
    pub async fn connect(args: &DbArgs) -> Result<Db, DbError> {
        let url = match &args.database_url {
            Some(url) => url.clone(),
            None => {
                ensure_dir(&args.data_dir)?;
                format!("sqlite://{}", args.data_dir.join("ledger.db").display())
            }
        };
        Db::connect_url(&url, args.db_connections).await
    }

    /// Opens the database at `url` (sqlite:// or postgres://).
    pub async fn connect_url(url: &str, max_connections: u32) -> Result<Db, DbError> {
        let max_connections = max_connections.max(2);
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                // WAL lets readers run beside the one writer; FULL syncs the WAL on every
                // commit so an acknowledged entry survives power loss and kill -9.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                .pragma("cache_size", "-65536")
                // After a burst outruns the background checkpoints, the WAL file is cut back
                // to 64 MiB once it restarts, instead of keeping its high-water size on disk.
                .pragma("journal_size_limit", "67108864")
                .pragma("temp_store", "memory");
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                // A file connection does not go stale: no liveness query before every use.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(DbError::Scheme(redact_url(url)))
        }
    }

    /// Applies every pending migration of this engine.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// The engine's name, for logs and metrics.
    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers and every embedded migration has been applied.
    pub async fn ready(&self) -> Result<(), String> {
        let migrator = match self {
            Db::Sqlite(_) => &SQLITE_MIGRATOR,
            Db::Postgres(_) => &POSTGRES_MIGRATOR,
        };
        let applied: Vec<(i64,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(pool)
                .await
        })
        .map_err(|e| format!("database unreachable: {e}"))?;
        for m in migrator.iter() {
            if !applied.iter().any(|(v,)| *v == m.version) {
                return Err(format!(
                    "migration {} ({}) not applied",
                    m.version, m.description
                ));
            }
        }
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

fn ensure_dir(path: &Path) -> Result<(), DbError> {
    std::fs::create_dir_all(path).map_err(|source| DbError::DataDir {
        path: path.display().to_string(),
        source,
    })
}

/// The URL without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Placeholders `$start, $start+1, ...` for `count` values, for `IN (...)` lists.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(start + i).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_do_not_reach_messages() {
        assert_eq!(
            redact_url("postgres://custody:secret@127.0.0.1/db"),
            "postgres://custody:***@127.0.0.1/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
