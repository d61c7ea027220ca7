//! Content-addressed blobs (SBOMs): uploaded as a stream, spooled to a temporary file while
//! hashed and counted (never held in memory whole), stored once in 1 MiB chunks, and served
//! as a stream of those chunks.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::str::FromStr;

use axum::body::{Body, Bytes};
use custody_types::{Digest, Sha256Hasher};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use crate::db::Db;
use crate::error::ApiError;
use crate::on_db;
use crate::sequencer::BLOB_CHUNK;
use crate::util::{format_millis, now_millis};

/// A stored blob's description.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct BlobInfo {
    /// sha256:...
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type given at upload.
    pub media_type: String,
    /// False when the blob was already stored (deduplicated).
    pub created: bool,
    /// When it was first stored.
    pub created_at: String,
}

/// Streams `body` into the store, checking `expected` when given and `limit` always.
pub(crate) async fn upload(
    db: &Db,
    body: Body,
    expected: Option<&Digest>,
    media_type: &str,
    limit: u64,
) -> Result<BlobInfo, ApiError> {
    let tmp = tempfile::NamedTempFile::new().map_err(ApiError::internal)?;
    let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(ApiError::internal)?);
    let mut hasher = Sha256Hasher::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk: Bytes =
            chunk.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        hasher.update(&chunk);
        if hasher.len() > limit {
            return Err(ApiError::TooLarge(format!(
                "blob is larger than the limit of {limit} bytes"
            )));
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    drop(file);
    let size = hasher.len();
    let digest = hasher.finish();
    if let Some(expected) = expected
        && *expected != digest
    {
        return Err(ApiError::BadRequest(format!(
            "uploaded content has digest {digest}, not {expected}"
        )));
    }
    let d = digest.to_string();
    let now = now_millis();
    let created = on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO blobs (digest, size, media_type, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&d)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(media_type)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected() == 1;
        if inserted {
            let mut f = tmp.reopen().map_err(ApiError::internal)?;
            f.seek(SeekFrom::Start(0)).map_err(ApiError::internal)?;
            let mut buf = vec![0u8; BLOB_CHUNK];
            let mut seq: i64 = 0;
            loop {
                let n = read_full(&mut f, &mut buf).map_err(ApiError::internal)?;
                if n == 0 {
                    break;
                }
                sqlx::query("INSERT INTO blob_chunks (digest, seq, data) VALUES ($1, $2, $3)")
                    .bind(&d)
                    .bind(seq)
                    .bind(&buf[..n])
                    .execute(&mut *tx)
                    .await?;
                seq += 1;
            }
        }
        tx.commit().await?;
        inserted
    });
    let mut info = info(db, &digest).await?;
    info.created = created;
    Ok(info)
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = f.read(&mut buf[n..])?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

/// Parses a blob digest from a path.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    let d = Digest::from_str(s).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if d.algorithm() != custody_types::Algorithm::Sha256 {
        return Err(ApiError::BadRequest("blobs are addressed by sha256".into()));
    }
    Ok(d)
}

/// A stored blob's description.
pub(crate) async fn info(db: &Db, digest: &Digest) -> Result<BlobInfo, ApiError> {
    let row: Option<(i64, String, i64)> = on_db!(db, pool => {
        sqlx::query_as("SELECT size, media_type, created_at FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(pool)
            .await?
    });
    let (size, media_type, created_at) =
        row.ok_or_else(|| ApiError::NotFound(format!("no blob {digest}")))?;
    Ok(BlobInfo {
        digest: digest.to_string(),
        size: u64::try_from(size).unwrap_or(0),
        media_type,
        created: false,
        created_at: format_millis(created_at),
    })
}

/// The blob's bytes as a stream of its chunks, read one at a time.
pub(crate) fn stream(db: Db, digest: &Digest) -> Body {
    let d = digest.to_string();
    let chunks = futures_util::stream::unfold(0i64, move |seq| {
        let db = db.clone();
        let d = d.clone();
        async move {
            let row: Result<Option<(Vec<u8>,)>, sqlx::Error> = on_db!(&db, pool => {
                sqlx::query_as("SELECT data FROM blob_chunks WHERE digest = $1 AND seq = $2")
                    .bind(&d)
                    .bind(seq)
                    .fetch_optional(pool)
                    .await
            });
            match row {
                Ok(Some((data,))) => {
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(data)), seq + 1))
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "reading blob chunk");
                    Some((Err(std::io::Error::other("database error")), i64::MAX))
                }
            }
        }
    });
    Body::from_stream(chunks)
}
