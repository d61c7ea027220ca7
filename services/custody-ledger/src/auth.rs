//! Bearer tokens and per-caller rate limits.
//!
//! A token is `cl_` followed by 32 random bytes in URL-safe base64; only its SHA-256 is stored.
//! Writers append and upload blobs; auditors read when reads are restricted; admins do
//! everything, including registering signer keys. A middleware resolves the caller once per
//! request and charges its rate bucket (keyed by token hash, or by client address when no
//! token is sent), and handlers ask for the role they need.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand_core::TryRngCore as _;
use sha2::{Digest as _, Sha256};

use crate::config::{ReadAccess, TokenRole};
use crate::db::Db;
use crate::error::ApiError;
use crate::on_db;
use crate::state::AppState;
use crate::util::now_millis;

pub(crate) use custody_server::PeerAddr;

/// Who is calling, resolved from the Authorization header.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The token's role, or `None` without a (valid) token.
    pub role: Option<TokenRole>,
}

impl Caller {
    /// Requires a writer (or admin) token.
    pub(crate) fn require_writer(&self) -> Result<(), ApiError> {
        match self.role {
            Some(TokenRole::Writer | TokenRole::Admin) => Ok(()),
            Some(_) => Err(ApiError::Forbidden("this needs a writer token".into())),
            None => Err(ApiError::Unauthorized(
                "this needs a writer token (Authorization: Bearer ...)".into(),
            )),
        }
    }

    /// Requires an admin token.
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Some(TokenRole::Admin) => Ok(()),
            Some(_) => Err(ApiError::Forbidden("this needs an admin token".into())),
            None => Err(ApiError::Unauthorized(
                "this needs an admin token (Authorization: Bearer ...)".into(),
            )),
        }
    }

    /// Allows a read under the configured read access.
    pub(crate) fn require_reader(&self, access: ReadAccess) -> Result<(), ApiError> {
        match (access, self.role) {
            (ReadAccess::Open, _) => Ok(()),
            (ReadAccess::Auditor, Some(_)) => Ok(()),
            (ReadAccess::Auditor, None) => Err(ApiError::Unauthorized(
                "reads need an auditor token (Authorization: Bearer ...)".into(),
            )),
        }
    }
}

/// A fresh random token.
pub(crate) fn generate_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(ApiError::internal)?;
    Ok(format!(
        "cl_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Stores a new token of `role` and returns it (the only time it is ever shown).
pub async fn create_token(db: &Db, role: TokenRole, comment: &str) -> Result<String, ApiError> {
    let token = generate_token()?;
    let hash = token_hash(&token);
    on_db!(db, pool => {
        sqlx::query("INSERT INTO tokens (token_hash, role, comment, created_at) VALUES ($1, $2, $3, $4)")
            .bind(hash.as_slice())
            .bind(role.as_str())
            .bind(comment)
            .bind(now_millis())
            .execute(pool)
            .await?;
    });
    Ok(token)
}

/// How long a token lookup is trusted before the database is asked again.
const TOKEN_TTL: Duration = Duration::from_secs(5);

/// A token hash's role (None: unknown token) and when it was looked up.
type TokenCache = HashMap<[u8; 32], (Option<TokenRole>, Instant)>;

/// Token lookups and the rate limiter.
pub(crate) struct Gatekeeper {
    db: Db,
    cache: Mutex<TokenCache>,
    limiter: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
}

impl Gatekeeper {
    /// `rate` requests per second per caller (0 = unlimited), with a burst of twice that.
    pub(crate) fn new(db: Db, rate: u32) -> Gatekeeper {
        let limiter = NonZeroU32::new(rate).map(|r| {
            let burst = NonZeroU32::new(rate.saturating_mul(2)).unwrap_or(r);
            RateLimiter::keyed(Quota::per_second(r).allow_burst(burst))
        });
        Gatekeeper {
            db,
            cache: Mutex::new(HashMap::new()),
            limiter,
        }
    }

    async fn role_of(&self, hash: [u8; 32]) -> Result<Option<TokenRole>, ApiError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((role, at)) = cache.get(&hash)
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(*role);
        }
        let row: Option<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT role FROM tokens WHERE token_hash = $1")
                .bind(hash.as_slice())
                .fetch_optional(pool)
                .await?
        });
        let role = row.and_then(|(r,)| TokenRole::parse(&r));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(hash, (role, Instant::now()));
        }
        Ok(role)
    }

    fn charge(&self, key: [u8; 32]) -> Result<(), ApiError> {
        match &self.limiter {
            Some(l) if l.check_key(&key).is_err() => Err(ApiError::RateLimited(
                "rate limit exceeded for this caller; retry shortly".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Middleware: resolves the caller, charges its rate bucket, and puts [`Caller`] on the
/// request. A malformed or unknown token is refused here (401) whatever the route.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.0.ip().to_string());
    match resolve(&state, header, peer).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn resolve(
    state: &AppState,
    header: Option<String>,
    peer: Option<String>,
) -> Result<Caller, ApiError> {
    let gate = &state.inner.gate;
    let (role, key) = match header.as_deref() {
        None => {
            let peer = peer.unwrap_or_default();
            (None, Sha256::digest(format!("ip:{peer}").as_bytes()).into())
        }
        Some(value) => {
            let token = value
                .strip_prefix("Bearer ")
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 256)
                .ok_or_else(|| {
                    ApiError::Unauthorized("Authorization must be `Bearer <token>`".into())
                })?;
            let hash = token_hash(token);
            let role = gate.role_of(hash).await?;
            if role.is_none() {
                return Err(ApiError::Unauthorized("unknown token".into()));
            }
            (role, hash)
        }
    };
    gate.charge(key)?;
    Ok(Caller { role })
}

/// The caller of a request (set by [`authenticate`]; absent only in a misbuilt router).
pub(crate) fn caller_of(ext: &axum::http::Extensions) -> Caller {
    ext.get::<Caller>()
        .cloned()
        .unwrap_or(Caller { role: None })
}
