//! `custody-gate`: the deploy gate (admission webhook and /v1/verify) as a binary: parse the
//! configuration, load the policy and key, bind, serve until SIGINT/SIGTERM.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use custody_gate::{Config, Gate, LedgerHttp, build_router, serve, shutdown_signal, tls_config};

fn read_small(path: &Path, max: u64) -> anyhow::Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .take(max)
        .read_to_string(&mut s)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(s)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::parse();
    let text = read_small(&config.policy, custody_verify::MAX_POLICY_BYTES as u64)?;
    let dir = config
        .policy
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut load = |p: &str| read_small(&dir.join(p), 64 * 1024).map_err(|e| format!("{:#}", e));
    let policy = custody_verify::Policy::parse(&text, &mut load)
        .map_err(|e| anyhow::anyhow!("policy {}: {e}", config.policy.display()))?;
    let timeout = Duration::from_secs(config.request_timeout.max(1));
    let recorder = match &config.key {
        None => None,
        Some(spec) => {
            let source: custody_attest::KeySource = spec.parse()?;
            let password = std::env::var("CUSTODY_KEY_PASSWORD").ok();
            let key =
                custody_attest::load_signing_key(&source, password.as_deref().map(str::as_bytes))?;
            Some((
                key,
                LedgerHttp::new(
                    &config.ledger,
                    config.ledger_token.clone(),
                    timeout,
                    config.ledger_ca_cert.as_deref(),
                )?,
            ))
        }
    };
    let trusted = match &config.state {
        Some(p) if p.exists() => Some(
            serde_json::from_str(&read_small(p, 64 * 1024)?)
                .with_context(|| format!("state {} is not a trusted checkpoint", p.display()))?,
        ),
        _ => None,
    };
    let ledger = LedgerHttp::new(
        &config.ledger,
        config.ledger_token.clone(),
        timeout,
        config.ledger_ca_cert.as_deref(),
    )?;
    let gate = Gate::new(
        policy,
        Box::new(ledger),
        recorder,
        trusted,
        config.state.clone(),
    )?;
    let router = build_router(Arc::new(gate), timeout);
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => Some(tls_config(c, k)?),
        _ => None,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, tls = tls.is_some(), "custody-gate serving");
        // The bound address on stdout (data), so `--listen 127.0.0.1:0` is usable by scripts.
        {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(
                stdout,
                "listening on {}://{addr}",
                if tls.is_some() { "https" } else { "http" }
            );
            let _ = stdout.flush();
        }
        serve(
            listener,
            router,
            tls,
            shutdown_signal(),
            Duration::from_secs(10),
        )
        .await;
        anyhow::Ok(())
    })
}
