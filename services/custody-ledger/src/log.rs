//! The log's identity: its origin and ed25519 key, created once and shared through the
//! database by every replica, and the checkpoints it signs.

use custody_log::{Checkpoint, Hash, KeyName, SignedCheckpoint, SignerKey};
use custody_types::KeyId;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use rand_core::TryRngCore as _;

use crate::db::Db;
use crate::on_db;
use crate::util::now_millis;

/// Why the log's identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum LogKeyError {
    /// The database failed.
    #[error("log key: database: {0}")]
    Db(#[from] sqlx::Error),
    /// The stored key does not parse.
    #[error("log key stored in the database is invalid: {0}")]
    Invalid(String),
    /// The origin is not a valid note key name.
    #[error("log origin {origin:?} is invalid: {reason}")]
    Origin {
        /// The origin.
        origin: String,
        /// Why.
        reason: String,
    },
}

/// The log's signing key and how clients name and check it.
#[derive(Debug, Clone)]
pub struct LogIdentity {
    signer: SignerKey,
    public_key_pem: String,
    key_id: KeyId,
}

impl LogIdentity {
    /// Loads the log key from the database, creating it (with `origin`, or a random one) if
    /// this is the first start. Safe when several replicas start at once: the first insert
    /// wins and everyone reads it back. Returns whether this call created it.
    pub async fn load_or_create(
        db: &Db,
        origin: Option<&str>,
    ) -> Result<(LogIdentity, bool), LogKeyError> {
        if let Some(identity) = Self::load(db).await? {
            return Ok((identity, false));
        }
        let origin = match origin {
            Some(o) => o.to_owned(),
            None => {
                let mut id = [0u8; 8];
                rand_core::OsRng
                    .try_fill_bytes(&mut id)
                    .map_err(|e| LogKeyError::Invalid(format!("randomness: {e}")))?;
                format!("custody-ledger/{}", hex::encode(id))
            }
        };
        let name = KeyName::new(&origin).map_err(|e| LogKeyError::Origin {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        let signer = SignerKey::generate(name).map_err(|e| LogKeyError::Invalid(e.to_string()))?;
        let pem = public_pem(&signer)?;
        let private = signer.to_private_key();
        let now = now_millis();
        let inserted = on_db!(db, pool => {
            sqlx::query(
                "INSERT INTO log_config (id, origin, private_key, public_key_pem, created_at) \
                 VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&origin)
            .bind(private.as_str())
            .bind(&pem)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        let identity = Self::load(db)
            .await?
            .ok_or_else(|| LogKeyError::Invalid("log_config row vanished".into()))?;
        Ok((identity, inserted == 1))
    }

    async fn load(db: &Db) -> Result<Option<LogIdentity>, LogKeyError> {
        let row: Option<(String, String)> = on_db!(db, pool => {
            sqlx::query_as("SELECT private_key, public_key_pem FROM log_config WHERE id = 1")
                .fetch_optional(pool)
                .await?
        });
        let Some((private, stored_pem)) = row else {
            return Ok(None);
        };
        let signer = SignerKey::from_private_key(&private)
            .map_err(|e| LogKeyError::Invalid(e.to_string()))?;
        let pem = public_pem(&signer)?;
        if pem.trim() != stored_pem.trim() {
            return Err(LogKeyError::Invalid(
                "stored public key does not match the stored private key".into(),
            ));
        }
        let der = signer
            .signing_key()
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| LogKeyError::Invalid(e.to_string()))?;
        Ok(Some(LogIdentity {
            key_id: KeyId::from_spki_der(der.as_bytes()),
            signer,
            public_key_pem: pem,
        }))
    }

    /// The origin line of every checkpoint (also the note key's name).
    pub fn origin(&self) -> &str {
        self.signer.name().as_str()
    }

    /// PEM SubjectPublicKeyInfo of the ed25519 log key (what `custody proof verify --log-key`
    /// and policies take).
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The C2SP note verifier key (what entry proof files name as `log_key`).
    pub fn verifier(&self) -> custody_log::VerifierKey {
        self.signer.verifier()
    }

    /// The C2SP note verifier key string, `origin+keyid+base64`.
    pub fn vkey(&self) -> String {
        self.signer.verifier().to_string()
    }

    /// custody's key ID of the log key (SHA-256 of its SPKI DER).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Signs the checkpoint of a tree of `size` leaves with `root`.
    pub fn sign_checkpoint(&self, size: u64, root: Hash) -> Result<String, LogKeyError> {
        let checkpoint = Checkpoint::new(self.origin(), size, root)
            .map_err(|e| LogKeyError::Invalid(e.to_string()))?;
        let signed = SignedCheckpoint::sign(&checkpoint, &self.signer)
            .map_err(|e| LogKeyError::Invalid(e.to_string()))?;
        Ok(signed.as_str().to_owned())
    }
}

fn public_pem(signer: &SignerKey) -> Result<String, LogKeyError> {
    signer
        .signing_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| LogKeyError::Invalid(e.to_string()))
}
