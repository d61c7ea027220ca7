//! Telling owners: the configuration, the messages an import writes to the outbox
//! (`notifications`, in the import's transaction), and their delivery after it committed.
//!
//! **Webhooks** get one JSON POST per owner (per configured URL), signed the way Stripe and
//! others sign theirs, so a receiver can check origin and freshness with any HMAC library:
//!
//! ```text
//! X-Custody-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>
//! X-Custody-Event: advisories.affected
//! X-Custody-Delivery: <outbox id>
//! ```
//!
//! **Email** (lettre over rustls; `smtp://host:port` plain for a local relay,
//! `smtp://…?tls=required` for STARTTLS, `smtps://` for implicit TLS) gets one text message
//! per owner that has an address.
//!
//! Each attempt has a timeout; failures that may pass (connection errors, timeouts, HTTP 5xx,
//! 408, 429, SMTP 4xx) are retried with exponential backoff, others fail at once. A message
//! that still fails stays in the outbox as `failed` with its last error, for
//! `custody-ledger advisories redeliver`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::ApiError;
use crate::on_db;
use crate::util::now_millis;

type HmacSha256 = hmac::Hmac<sha2_011::Sha256>;

/// How owners are told (command line and environment).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NotifyArgs {
    /// URL to POST notifications to (JSON, one request per owner); repeat for several, or
    /// separate them with commas in the environment.
    #[arg(
        long = "notify-webhook",
        env = "CUSTODY_LEDGER_NOTIFY_WEBHOOK",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub webhooks: Vec<String>,
    /// Secret the webhook requests are signed with (HMAC-SHA256, X-Custody-Signature);
    /// required with --notify-webhook.
    #[arg(
        long = "notify-webhook-secret",
        env = "CUSTODY_LEDGER_NOTIFY_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub webhook_secret: Option<String>,
    /// SMTP server for notification emails: `smtp://[USER:PASS@]HOST[:PORT]` (no TLS: a local
    /// relay), add ?tls=required for STARTTLS, or smtps:// for implicit TLS.
    #[arg(
        long = "notify-smtp",
        env = "CUSTODY_LEDGER_NOTIFY_SMTP",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub smtp: Option<String>,
    /// Sender address of notification emails; required with --notify-smtp.
    #[arg(
        long = "notify-from",
        env = "CUSTODY_LEDGER_NOTIFY_FROM",
        value_name = "EMAIL"
    )]
    pub from: Option<String>,
    /// Owner of images whose provenance signers have no registered owner.
    #[arg(
        long = "notify-default-owner",
        env = "CUSTODY_LEDGER_NOTIFY_DEFAULT_OWNER",
        value_name = "EMAIL"
    )]
    pub default_owner: Option<String>,
    /// Seconds before one delivery attempt is abandoned.
    #[arg(
        long = "notify-timeout",
        env = "CUSTODY_LEDGER_NOTIFY_TIMEOUT",
        default_value_t = 10
    )]
    pub timeout_secs: u64,
    /// Attempts per message (the first one plus retries).
    #[arg(
        long = "notify-attempts",
        env = "CUSTODY_LEDGER_NOTIFY_ATTEMPTS",
        default_value_t = 5
    )]
    pub attempts: u32,
    /// Milliseconds before the first retry; doubled after each failed attempt.
    #[arg(
        long = "notify-backoff-ms",
        env = "CUSTODY_LEDGER_NOTIFY_BACKOFF_MS",
        default_value_t = 1000
    )]
    pub backoff_ms: u64,
}

/// The checked notification settings.
#[derive(Clone, Default)]
pub struct NotifyConfig {
    pub(crate) webhooks: Vec<String>,
    secret: Option<Vec<u8>>,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    pub(crate) default_owner: Option<String>,
    timeout: Duration,
    attempts: u32,
    backoff: Duration,
    agent: Option<ureq::Agent>,
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("webhooks", &self.webhooks)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field(
                "smtp",
                &self.smtp.as_ref().map(|(_, from)| from.to_string()),
            )
            .field("default_owner", &self.default_owner)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// A notification setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum NotifyConfigError {
    /// A webhook URL that is not http(s).
    #[error("--notify-webhook {0:?} is not an http:// or https:// URL")]
    WebhookUrl(String),
    /// Webhooks without a signing secret.
    #[error(
        "--notify-webhook needs --notify-webhook-secret (receivers must be able to check who sent a notification)"
    )]
    NoSecret,
    /// The SMTP URL does not parse.
    #[error("--notify-smtp: {0}")]
    Smtp(String),
    /// SMTP without a sender.
    #[error("--notify-smtp needs --notify-from")]
    NoFrom,
    /// An address that is not one.
    #[error("{flag} {value:?} is not an email address: {reason}")]
    Address {
        /// Which flag.
        flag: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: String,
    },
}

impl TryFrom<&NotifyArgs> for NotifyConfig {
    type Error = NotifyConfigError;

    fn try_from(a: &NotifyArgs) -> Result<NotifyConfig, NotifyConfigError> {
        let timeout = Duration::from_secs(a.timeout_secs.max(1));
        for w in &a.webhooks {
            let ok = w.parse::<axum::http::Uri>().ok().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !ok {
                return Err(NotifyConfigError::WebhookUrl(w.clone()));
            }
        }
        let secret = match (&a.webhook_secret, a.webhooks.is_empty()) {
            (Some(s), _) if !s.is_empty() => Some(s.as_bytes().to_vec()),
            (_, false) => return Err(NotifyConfigError::NoSecret),
            _ => None,
        };
        let address = |flag: &'static str, v: &str| {
            Mailbox::from_str(v.trim()).map_err(|e| NotifyConfigError::Address {
                flag,
                value: v.to_owned(),
                reason: e.to_string(),
            })
        };
        let smtp = match &a.smtp {
            None => None,
            Some(url) => {
                let from = a.from.as_deref().ok_or(NotifyConfigError::NoFrom)?;
                let from = address("--notify-from", from)?;
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| NotifyConfigError::Smtp(e.to_string()))?
                    .timeout(Some(timeout))
                    .build();
                Some((transport, from))
            }
        };
        let default_owner = match &a.default_owner {
            Some(o) => Some(address("--notify-default-owner", o)?.email.to_string()),
            None => None,
        };
        let agent = (!a.webhooks.is_empty()).then(|| {
            ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .max_redirects(0)
                .max_redirects_will_error(false)
                .user_agent(format!("custody-ledger/{}", env!("CARGO_PKG_VERSION")))
                .build()
                .into()
        });
        Ok(NotifyConfig {
            webhooks: a.webhooks.clone(),
            secret,
            smtp,
            default_owner,
            timeout,
            attempts: a.attempts.max(1),
            backoff: Duration::from_millis(a.backoff_ms),
            agent,
        })
    }
}

impl NotifyConfig {
    /// Whether any channel is configured (without one, an import records the newly
    /// affected images but writes no message).
    pub fn enabled(&self) -> bool {
        !self.webhooks.is_empty() || self.smtp.is_some()
    }

    /// Whether email is configured.
    pub(crate) fn email(&self) -> bool {
        self.smtp.is_some()
    }
}

/// The `X-Custody-Signature` value for `body` sent at `t` (Unix seconds).
pub fn webhook_signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// One finding in a message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NoticeFinding {
    /// The advisory.
    pub advisory: String,
    /// DiffID of the layer holding the component.
    pub layer: String,
    /// Its position in the image (0 = bottom), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_index: Option<u32>,
    /// The component's purl.
    pub purl: String,
    /// The installed version.
    pub version: String,
    /// The version that fixes it, if the advisory names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Severity level, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}

/// An image in a message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NoticeImage {
    /// Manifest digest.
    pub image: String,
    /// What affects it.
    pub findings: Vec<NoticeFinding>,
}

/// An advisory named in a message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NoticeAdvisory {
    /// OSV ID.
    pub id: String,
    /// Aliases (CVE, GHSA, ...).
    pub aliases: Vec<String>,
    /// Summary, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// When the record was last modified.
    pub modified: String,
}

/// The import a message comes from.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NoticeImport {
    /// Import number.
    pub id: i64,
    /// When it ran (RFC 3339).
    pub at: String,
}

/// Totals of a message (what it lists may be capped).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct NoticeTotals {
    /// Newly affected images of this owner.
    pub images: usize,
    /// Newly affected (advisory, image) pairs.
    pub pairs: usize,
    /// Images listed below, each with all its findings: the first by digest, up to 200
    /// images and 500 findings per message (at least one image), so a message stays small
    /// however many images an import reaches.
    pub listed_images: usize,
    /// Whether images were left out (see `custody query --advisories-since`).
    pub truncated: bool,
}

/// One owner's message (the webhook body; the email says the same in text).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq)]
pub struct OwnerNotice {
    /// Always `advisories.affected`.
    pub event: String,
    /// The ledger's origin (checkpoint name).
    pub ledger: String,
    /// The import.
    pub import: NoticeImport,
    /// The owner, or null for images nobody owns.
    pub owner: Option<String>,
    /// Counts.
    pub totals: NoticeTotals,
    /// The advisories of the listed findings.
    pub advisories: Vec<NoticeAdvisory>,
    /// The listed images, by digest.
    pub images: Vec<NoticeImage>,
}

/// The event name of every notice.
pub const EVENT: &str = "advisories.affected";

impl OwnerNotice {
    /// The email subject.
    pub(crate) fn subject(&self) -> String {
        format!(
            "[custody] {} image{} newly affected by {} advisor{}",
            self.totals.images,
            if self.totals.images == 1 { "" } else { "s" },
            self.advisories.len(),
            if self.advisories.len() == 1 {
                "y"
            } else {
                "ies"
            },
        )
    }

    /// The email body: plain text, one block per image.
    pub(crate) fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "The custody ledger {} imported advisories at {} (import {}).",
            self.ledger, self.import.at, self.import.id
        );
        let _ = writeln!(
            s,
            "{} image{} recorded in the ledger {} newly affected ({} advisory/image pairs).\n",
            self.totals.images,
            if self.totals.images == 1 { "" } else { "s" },
            if self.totals.images == 1 { "is" } else { "are" },
            self.totals.pairs
        );
        for img in &self.images {
            let _ = writeln!(s, "image {}", img.image);
            for f in &img.findings {
                let layer = match f.layer_index {
                    Some(i) => format!("layer {i} {}", f.layer),
                    None => format!("layer {}", f.layer),
                };
                let _ = writeln!(
                    s,
                    "  {} [{}] {} {} installed {}, fixed in {}",
                    f.advisory,
                    f.severity.as_deref().unwrap_or("unknown severity"),
                    layer,
                    f.purl,
                    f.version,
                    f.fixed.as_deref().unwrap_or("(no fix yet)")
                );
            }
            s.push('\n');
        }
        if self.totals.truncated {
            let _ = writeln!(
                s,
                "{} more image(s) are not listed here: custody query --ledger URL --advisories-since {}",
                self.totals.images - self.totals.listed_images,
                self.import.at
            );
        }
        if !self.advisories.is_empty() {
            let _ = writeln!(s, "Advisories:");
            for a in &self.advisories {
                let _ = writeln!(
                    s,
                    "  {}{} (modified {}){}",
                    a.id,
                    if a.aliases.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", a.aliases.join(", "))
                    },
                    a.modified,
                    a.summary
                        .as_deref()
                        .map(|x| format!(": {x}"))
                        .unwrap_or_default()
                );
            }
        }
        s
    }
}

/// What a delivery run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct Delivered {
    /// Messages sent.
    pub sent: usize,
    /// Messages that failed every attempt.
    pub failed: usize,
    /// Messages left pending because their channel is not configured here.
    pub skipped: usize,
}

#[derive(sqlx::FromRow)]
struct Pending {
    id: i64,
    channel: String,
    target: String,
    subject: String,
    body: String,
}

/// Why one attempt failed, and whether trying again may help.
struct Failure {
    message: String,
    retry: bool,
}

/// Sends every pending message of the outbox (claiming each first, so several processes
/// can run this at once without sending a message twice).
pub async fn deliver_pending(db: &Db, config: &NotifyConfig) -> Result<Delivered, ApiError> {
    let mut done = Delivered::default();
    let mut after = 0i64;
    loop {
        let rows: Vec<Pending> = on_db!(db, pool => {
            sqlx::query_as(
                "SELECT id, channel, target, subject, body FROM notifications \
                 WHERE status = 'pending' AND id > $1 ORDER BY id LIMIT 50",
            )
            .bind(after)
            .fetch_all(pool)
            .await?
        });
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = last.id;
        for row in rows {
            let configured = match row.channel.as_str() {
                "webhook" => config.agent.is_some() && config.secret.is_some(),
                "email" => config.smtp.is_some(),
                _ => false,
            };
            if !configured {
                done.skipped += 1;
                continue;
            }
            let claimed = on_db!(db, pool => {
                sqlx::query(
                    "UPDATE notifications SET status = 'sending', updated_at = $2 \
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(row.id)
                .bind(now_millis())
                .execute(pool)
                .await?
                .rows_affected()
            });
            if claimed != 1 {
                continue;
            }
            let (attempts, result) = send_with_retries(config, &row).await;
            let (status, error) = match &result {
                Ok(()) => ("sent", String::new()),
                Err(e) => ("failed", e.clone()),
            };
            match &result {
                Ok(()) => {
                    done.sent += 1;
                    tracing::info!(id = row.id, channel = %row.channel, target = %redact(&row.target), attempts, "notification sent");
                }
                Err(e) => {
                    done.failed += 1;
                    tracing::warn!(id = row.id, channel = %row.channel, target = %redact(&row.target), attempts, error = %e, "notification failed");
                }
            }
            on_db!(db, pool => {
                sqlx::query(
                    "UPDATE notifications SET status = $2, attempts = attempts + $3, \
                     last_error = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(row.id)
                .bind(status)
                .bind(i64::from(attempts))
                .bind(crate::util::truncate(&error))
                .bind(now_millis())
                .execute(pool)
                .await?;
            });
        }
    }
}

/// Puts failed messages (and ones left `sending` by a process that died more than
/// `stale` ago) back in the queue.
pub async fn requeue(db: &Db, stale: Duration) -> Result<u64, ApiError> {
    let cutoff = now_millis() - i64::try_from(stale.as_millis()).unwrap_or(i64::MAX);
    Ok(on_db!(db, pool => {
        sqlx::query(
            "UPDATE notifications SET status = 'pending', updated_at = $1 \
             WHERE status = 'failed' OR (status = 'sending' AND updated_at < $2)",
        )
        .bind(now_millis())
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected()
    }))
}

/// A URL or address without credentials, for logs.
fn redact(target: &str) -> String {
    crate::db::redact_url(target)
}

async fn send_with_retries(config: &NotifyConfig, row: &Pending) -> (u32, Result<(), String>) {
    let mut delay = config.backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match row.channel.as_str() {
            "webhook" => post_webhook(config, row).await,
            _ => send_email(config, row).await,
        };
        match result {
            Ok(()) => return (attempt, Ok(())),
            Err(f) if !f.retry || attempt >= config.attempts => {
                return (attempt, Err(f.message));
            }
            Err(f) => {
                tracing::debug!(id = row.id, attempt, error = %f.message, "notification attempt failed; retrying");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}

async fn post_webhook(config: &NotifyConfig, row: &Pending) -> Result<(), Failure> {
    let (Some(agent), Some(secret)) = (config.agent.clone(), config.secret.clone()) else {
        return Err(Failure {
            message: "webhooks are not configured".into(),
            retry: false,
        });
    };
    let url = row.target.clone();
    let body = row.body.clone().into_bytes();
    let id = row.id;
    let timeout = config.timeout;
    let call = tokio::task::spawn_blocking(move || {
        let t = jiff::Timestamp::now().as_second();
        let signature = webhook_signature(&secret, t, &body);
        agent
            .post(&url)
            .header("content-type", "application/json")
            .header("x-custody-event", EVENT)
            .header("x-custody-delivery", id.to_string())
            .header("x-custody-signature", signature)
            .send(&body[..])
            .map(|r| r.status().as_u16())
    });
    // The agent's own timeout bounds the call; this one also covers a stuck thread pool.
    match tokio::time::timeout(timeout + Duration::from_secs(5), call).await {
        Ok(Ok(Ok(status))) if (200..300).contains(&status) => Ok(()),
        Ok(Ok(Ok(status))) => Err(Failure {
            message: format!("webhook answered HTTP {status}"),
            retry: status >= 500 || status == 408 || status == 429,
        }),
        Ok(Ok(Err(e))) => Err(Failure {
            message: format!("webhook request: {e}"),
            retry: true,
        }),
        Ok(Err(e)) => Err(Failure {
            message: format!("webhook task: {e}"),
            retry: true,
        }),
        Err(_) => Err(Failure {
            message: "webhook request timed out".into(),
            retry: true,
        }),
    }
}

async fn send_email(config: &NotifyConfig, row: &Pending) -> Result<(), Failure> {
    let Some((transport, from)) = &config.smtp else {
        return Err(Failure {
            message: "email is not configured".into(),
            retry: false,
        });
    };
    let to = Mailbox::from_str(&row.target).map_err(|e| Failure {
        message: format!("recipient {:?}: {e}", row.target),
        retry: false,
    })?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(row.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(row.body.clone())
        .map_err(|e| Failure {
            message: format!("building the message: {e}"),
            retry: false,
        })?;
    match tokio::time::timeout(
        config.timeout + Duration::from_secs(5),
        transport.send(message),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Failure {
            retry: !e.is_permanent(),
            message: format!("smtp: {e}"),
        }),
        Err(_) => Err(Failure {
            message: "smtp timed out".into(),
            retry: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_time_and_body() {
        // RFC 4231 test case 2 covers the primitive; here the framing: "t." + body.
        let sig = webhook_signature(b"Jefe", 1700000000, b"what do ya want for nothing?");
        assert!(sig.starts_with("t=1700000000,v1="), "{sig}");
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1700000000.what do ya want for nothing?");
        assert_eq!(
            sig,
            format!(
                "t=1700000000,v1={}",
                hex::encode(mac.finalize().into_bytes())
            )
        );
        // RFC 4231 test case 2 itself, through the same type.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn configurations_that_cannot_work_are_refused() {
        let base = NotifyArgs {
            timeout_secs: 1,
            attempts: 1,
            ..NotifyArgs::default()
        };
        assert!(!NotifyConfig::try_from(&base).unwrap().enabled());
        let no_secret = NotifyArgs {
            webhooks: vec!["http://127.0.0.1:9/hook".into()],
            ..base.clone()
        };
        assert!(matches!(
            NotifyConfig::try_from(&no_secret),
            Err(NotifyConfigError::NoSecret)
        ));
        let bad_url = NotifyArgs {
            webhooks: vec!["ftp://x/y".into()],
            webhook_secret: Some("s".into()),
            ..base.clone()
        };
        assert!(matches!(
            NotifyConfig::try_from(&bad_url),
            Err(NotifyConfigError::WebhookUrl(_))
        ));
        let no_from = NotifyArgs {
            smtp: Some("smtp://127.0.0.1:2525".into()),
            ..base.clone()
        };
        assert!(matches!(
            NotifyConfig::try_from(&no_from),
            Err(NotifyConfigError::NoFrom)
        ));
        let bad_scheme = NotifyArgs {
            smtp: Some("imap://127.0.0.1".into()),
            from: Some("ledger@example.com".into()),
            ..base.clone()
        };
        assert!(matches!(
            NotifyConfig::try_from(&bad_scheme),
            Err(NotifyConfigError::Smtp(_))
        ));
        let bad_owner = NotifyArgs {
            default_owner: Some("not an address".into()),
            ..base.clone()
        };
        assert!(NotifyConfig::try_from(&bad_owner).is_err());
        let good = NotifyArgs {
            webhooks: vec!["https://hooks.example.com/custody".into()],
            webhook_secret: Some("s3cret".into()),
            smtp: Some("smtp://relay.example.com:25?tls=required".into()),
            from: Some("custody <ledger@example.com>".into()),
            default_owner: Some("platform@example.com".into()),
            ..base
        };
        let c = NotifyConfig::try_from(&good).unwrap();
        assert!(c.enabled() && c.email());
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
