//! Who is told when an image becomes affected.
//!
//! An image's owners are the registered owners of the keys that signed its build provenance:
//! the builder key identifies the pipeline that produced the image, which is who can rebuild
//! it with the fix (a base image's provenance is signed by the base-library key, whose owner
//! is the base-image team). An owner is an email address, set with `custody-ledger signer add
//! KEY --owner EMAIL` or `signer set-owner`. Images whose provenance signers have no owner (or
//! that have no recorded provenance) go to the configured default owner, else to nobody by
//! email and to the webhooks with `"owner": null`.

use std::collections::BTreeMap;
use std::str::FromStr;

use custody_types::KeyId;

use crate::db::Db;
use crate::error::ApiError;
use crate::on_db;
use crate::util::now_millis;

/// Checks an owner: an email address (`team@example.com`), as SMTP will need it.
pub(crate) fn parse_owner(s: &str) -> Result<String, ApiError> {
    let s = s.trim();
    lettre::Address::from_str(s)
        .map(|a| a.to_string())
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "owner {:?} is not an email address: {e}",
                crate::util::truncate(s)
            ))
        })
}

/// Sets (or with `None` clears) the owner of a registered signer key.
pub async fn set_signer_owner(db: &Db, key_id: &str, owner: Option<&str>) -> Result<(), ApiError> {
    let key_id = KeyId::from_str(key_id)
        .map_err(|e| ApiError::BadRequest(format!("key id: {e}")))?
        .to_string();
    let known: Option<(String,)> = on_db!(db, pool => {
        sqlx::query_as("SELECT key_id FROM signers WHERE key_id = $1")
            .bind(&key_id)
            .fetch_optional(pool)
            .await?
    });
    if known.is_none() {
        return Err(ApiError::NotFound(format!(
            "no registered signer key {key_id}"
        )));
    }
    match owner {
        Some(o) => {
            let o = parse_owner(o)?;
            on_db!(db, pool => {
                sqlx::query(
                    "INSERT INTO signer_owners (key_id, owner, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key_id) DO UPDATE SET owner = excluded.owner, updated_at = excluded.updated_at",
                )
                .bind(&key_id)
                .bind(&o)
                .bind(now_millis())
                .execute(pool)
                .await?;
            });
        }
        None => {
            on_db!(db, pool => {
                sqlx::query("DELETE FROM signer_owners WHERE key_id = $1")
                    .bind(&key_id)
                    .execute(pool)
                    .await?;
            });
        }
    }
    Ok(())
}

/// The owner of each registered key that has one.
pub async fn signer_owners(db: &Db) -> Result<BTreeMap<String, String>, ApiError> {
    let rows: Vec<(String, String)> = on_db!(db, pool => {
        sqlx::query_as("SELECT key_id, owner FROM signer_owners ORDER BY key_id")
            .fetch_all(pool)
            .await?
    });
    Ok(rows.into_iter().collect())
}
