//! The registered signer keys, cached in memory and refreshed from the database when an
//! unknown key shows up (another replica or the admin CLI may have registered it).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use custody_attest::{Envelope, PublicKey, VerifiedEnvelope};
use custody_types::{KeyId, Role};

use crate::db::Db;
use crate::error::ApiError;
use crate::on_db;
use crate::util::now_millis;

/// A registered key.
#[derive(Debug, Clone)]
pub(crate) struct Signer {
    /// The key.
    pub key: PublicKey,
    /// What it may sign for.
    pub role: Role,
}

/// The registered keys at one moment: what a verification on the blocking pool works from.
#[derive(Default)]
pub(crate) struct Keys {
    keys: HashMap<KeyId, Signer>,
    /// securesystemslib key IDs (what custody writes as DSSE keyid) to custody key IDs.
    sslib: HashMap<String, KeyId>,
    loaded: Option<Instant>,
}

/// The keys allowed to write.
#[derive(Clone)]
pub(crate) struct SignerCache {
    db: Db,
    keys: Arc<RwLock<Arc<Keys>>>,
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
    pub(crate) fn new(db: Db) -> Self {
        SignerCache {
            db,
            keys: Arc::new(RwLock::new(Arc::new(Keys::default()))),
        }
    }

    /// Reloads every key from the database.
    pub(crate) async fn reload(&self) -> Result<(), ApiError> {
        let rows: Vec<(String, String, String)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "SELECT key_id, role, public_key_pem FROM signers",
            )
            .fetch_all(pool)
            .await?
        });
        let mut keys = HashMap::with_capacity(rows.len());
        let mut sslib = HashMap::with_capacity(rows.len());
        for (key_id, role, pem) in rows {
            let (Ok(key), Ok(role)) = (PublicKey::from_text(&pem), role.parse::<Role>()) else {
                tracing::warn!(%key_id, "stored signer key does not parse; ignored");
                continue;
            };
            sslib.insert(key.securesystemslib_keyid(), key.key_id());
            keys.insert(key.key_id(), Signer { key, role });
        }
        let fresh = Arc::new(Keys {
            keys,
            sslib,
            loaded: Some(Instant::now()),
        });
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The keys as last loaded (cheap: an `Arc`), for verifying off the async threads.
    pub(crate) fn snapshot(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// After `used` failed to verify an envelope: whether newer keys are there to try, either
    /// loaded meanwhile by another request or reloaded now because `used` was loaded long
    /// enough ago (another replica or the admin CLI may have registered a key since).
    pub(crate) async fn refresh(&self, used: &Arc<Keys>) -> Result<bool, ApiError> {
        let current = self.snapshot();
        if !Arc::ptr_eq(&current, used) {
            return Ok(true);
        }
        if current.is_fresh() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }
}

/// The 403 of an envelope not signed by registered keys.
pub(crate) fn forbidden(why: String) -> ApiError {
    ApiError::Forbidden(format!(
        "envelope is not signed by registered signer keys: {why}"
    ))
}

impl Keys {
    /// Whether these keys were loaded recently enough that an unknown key is really unknown.
    pub(crate) fn is_fresh(&self) -> bool {
        self.loaded.is_some_and(|t| t.elapsed() < RELOAD_INTERVAL)
    }

    /// Verifies `envelope` against the registered keys: every signature must verify with a
    /// distinct registered key (an entry must not carry a signature a reader cannot
    /// attribute). keyids only choose which keys to try first.
    pub(crate) fn verify(
        &self,
        envelope: &Envelope,
    ) -> Result<(VerifiedEnvelope, Vec<(KeyId, Role)>), String> {
        let n = envelope.signatures().len();
        let mut candidates: Vec<PublicKey> = Vec::with_capacity(n);
        let mut all_hinted = true;
        for sig in envelope.signatures() {
            let id = sig
                .keyid()
                .parse::<KeyId>()
                .ok()
                .or_else(|| self.sslib.get(sig.keyid()).copied());
            match id.and_then(|id| self.keys.get(&id)) {
                Some(s) => candidates.push(s.key.clone()),
                None => all_hinted = false,
            }
        }
        let verified = match all_hinted.then(|| envelope.verify(&candidates, n)) {
            Some(Ok(v)) => v,
            _ => {
                let all: Vec<PublicKey> = self.keys.values().map(|s| s.key.clone()).collect();
                if all.is_empty() {
                    return Err("no signer keys are registered".into());
                }
                envelope.verify(&all, n).map_err(|e| e.to_string())?
            }
        };
        let roles = verified
            .signers()
            .iter()
            .filter_map(|id| self.keys.get(id).map(|s| (*id, s.role)))
            .collect();
        Ok((verified, roles))
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
