//! The registered signer keys, cached in memory and refreshed from the database when an
//! unknown key shows up (another replica or the admin CLI may have registered it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use custody_attest::PublicKey;
use custody_types::{KeyId, Role};
use tokio::sync::RwLock;

use crate::db::Db;
use crate::error::ApiError;
use crate::on_db;
use crate::util::now_millis;

/// A registered key.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The key.
    pub key: PublicKey,
    /// What it may sign for.
    pub role: Role,
    /// Free text.
    pub comment: String,
    /// When it was registered (Unix ms).
    pub created_at: i64,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<KeyId, Signer>,
    loaded: Option<Instant>,
}

/// The keys allowed to write.
#[derive(Clone)]
pub struct SignerCache {
    db: Db,
    inner: Arc<RwLock<Inner>>,
}

/// A key as listed by the admin API.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SignerInfo {
    /// Key ID (hex SHA-256 of the SPKI DER).
    pub key_id: String,
    /// Role.
    pub role: String,
    /// ed25519 or ecdsa-p256.
    pub algorithm: String,
    /// SPKI PEM.
    pub public_key_pem: String,
    /// Free text.
    pub comment: String,
    /// Registration time (RFC 3339).
    pub created_at: String,
}

/// How often at most an unknown key triggers a reload.
const RELOAD_INTERVAL: Duration = Duration::from_millis(500);

impl SignerCache {
    /// An empty cache over `db`; loads on first use.
    pub fn new(db: Db) -> Self {
        SignerCache {
            db,
            inner: Arc::new(RwLock::new(Inner::default())),
        }
    }

    /// Reloads every key from the database.
    pub async fn reload(&self) -> Result<(), ApiError> {
        let rows: Vec<(String, String, String, String, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT key_id, role, public_key_pem, comment, created_at FROM signers",
            )
            .fetch_all(pool)
            .await?
        });
        let mut keys = HashMap::with_capacity(rows.len());
        for (key_id, role, pem, comment, created_at) in rows {
            let (Ok(key), Ok(role)) = (PublicKey::from_text(&pem), role.parse::<Role>()) else {
                tracing::warn!(%key_id, "stored signer key does not parse; ignored");
                continue;
            };
            keys.insert(
                key.key_id(),
                Signer {
                    key,
                    role,
                    comment,
                    created_at,
                },
            );
        }
        let mut inner = self.inner.write().await;
        inner.keys = keys;
        inner.loaded = Some(Instant::now());
        Ok(())
    }

    async fn try_verify(
        &self,
        hint: &str,
        message: &[u8],
        sig: &[u8],
    ) -> Option<Option<(KeyId, Role)>> {
        let inner = self.inner.read().await;
        inner.loaded?;
        // The hint only orders the search; the signature decides.
        if let Ok(id) = hint.parse::<KeyId>()
            && let Some(s) = inner.keys.get(&id)
            && s.key.verify(message, sig)
        {
            return Some(Some((id, s.role)));
        }
        for (id, s) in &inner.keys {
            if s.key.verify(message, sig) {
                return Some(Some((*id, s.role)));
            }
        }
        Some(None)
    }

    /// The registered key (and its role) whose signature `sig` over `message` verifies.
    pub async fn verify(
        &self,
        hint: &str,
        message: &[u8],
        sig: &[u8],
    ) -> Result<Option<(KeyId, Role)>, ApiError> {
        if let Some(Some(found)) = self.try_verify(hint, message, sig).await {
            return Ok(Some(found));
        }
        let stale = {
            let inner = self.inner.read().await;
            inner.loaded.is_none_or(|t| t.elapsed() >= RELOAD_INTERVAL)
        };
        if stale {
            self.reload().await?;
            if let Some(found) = self.try_verify(hint, message, sig).await.flatten() {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The role of a registered key, if any.
    pub async fn role_of(&self, id: &KeyId) -> Option<Role> {
        self.inner.read().await.keys.get(id).map(|s| s.role)
    }
}

/// Registers `key` with `role`; registering the same key again with the same role is a
/// no-op, with another role a conflict.
pub async fn add_signer(
    db: &Db,
    key: &PublicKey,
    role: Role,
    comment: &str,
) -> Result<SignerInfo, ApiError> {
    let key_id = key.key_id().to_string();
    let pem = key.to_spki_pem();
    let now = now_millis();
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO signers (key_id, role, algorithm, public_key_pem, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(&key_id)
        .bind(role.as_str())
        .bind(key.key_type().as_str())
        .bind(&pem)
        .bind(comment)
        .bind(now)
        .execute(pool)
        .await?;
    });
    let stored = list_signers(db)
        .await?
        .into_iter()
        .find(|s| s.key_id == key_id)
        .ok_or_else(|| ApiError::internal("signer row vanished after insert"))?;
    if stored.role != role.as_str() {
        return Err(ApiError::Conflict(format!(
            "key {key_id} is already registered with role {}",
            stored.role
        )));
    }
    Ok(stored)
}

/// Every registered key, by key ID.
pub async fn list_signers(db: &Db) -> Result<Vec<SignerInfo>, ApiError> {
    let rows: Vec<(String, String, String, String, String, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT key_id, role, algorithm, public_key_pem, comment, created_at \
             FROM signers ORDER BY key_id",
        )
        .fetch_all(pool)
        .await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(key_id, role, algorithm, public_key_pem, comment, created)| SignerInfo {
                key_id,
                role,
                algorithm,
                public_key_pem,
                comment,
                created_at: crate::util::format_millis(created),
            },
        )
        .collect())
}
