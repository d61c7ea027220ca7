//! `custody-ledger`: parses the configuration, opens the database, binds the socket, and
//! serves until SIGINT/SIGTERM; the admin subcommands run against the same database.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use custody_ledger::{
    AdvisoriesCommand, ApiConfig, AppState, Cli, Command, MigrateArgs, NotifyConfig, SignerCommand,
    TokenCommand,
};

fn out(line: impl AsRef<str>) {
    let _ = writeln!(std::io::stdout(), "{}", line.as_ref());
}

fn err(line: impl AsRef<str>) {
    let _ = writeln!(std::io::stderr(), "{}", line.as_ref());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = matches!(&cli.command, Command::Serve(c) if c.log_json);
    init_tracing(json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            err(format!("error: starting the runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            err(format!("error: {e:#}"));
            ExitCode::from(2)
        }
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTODY_LEDGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open(args: &MigrateArgs) -> anyhow::Result<custody_ledger::Opened> {
    let opened = custody_ledger::open(args)
        .await
        .context("opening the ledger database")?;
    if opened.created {
        err(format!(
            "created log {} (key {})",
            opened.identity.origin(),
            opened.identity.vkey()
        ));
        err(opened.identity.public_key_pem().trim_end());
    }
    if let Some(path) = &opened.public_key_file {
        tracing::info!(path = %path.display(), "log public key written");
    }
    Ok(opened)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(config) => {
            let opened = open(&config.migrate).await?;
            let tls = match (&config.tls_cert, &config.tls_key) {
                (Some(c), Some(k)) => Some(custody_ledger::tls_config(c, k)?),
                _ => None,
            };
            let notify = NotifyConfig::try_from(&config.notify)?;
            let mut api_config = ApiConfig::from_serve(&config);
            api_config.notify = notify.clone();
            let (state, sequencer) =
                AppState::new(opened.db.clone(), opened.identity.clone(), api_config)?;
            custody_ledger::spawn_background(opened.db.clone(), notify);
            let router = custody_ledger::build_router(state);
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("binding {}", config.listen))?;
            let addr = listener.local_addr()?;
            tracing::info!(
                %addr,
                tls = tls.is_some(),
                engine = opened.db.engine(),
                origin = opened.identity.origin(),
                "custody-ledger listening"
            );
            out(format!(
                "listening on {}://{addr}",
                if tls.is_some() { "https" } else { "http" }
            ));
            custody_ledger::serve(
                listener,
                router,
                tls,
                custody_ledger::shutdown_signal(),
                Duration::from_secs(20),
            )
            .await;
            // The router (and so the sequencer's handles) is gone: wait for queued appends.
            let _ = tokio::time::timeout(Duration::from_secs(20), sequencer).await;
            opened.db.close().await;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate(args) => {
            let opened = open(&args).await?;
            out(format!(
                "database migrated; log {}",
                opened.identity.origin()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Signer(SignerCommand::Add {
            db,
            key,
            role,
            comment,
            owner,
        }) => {
            let opened = open(&MigrateArgs { db, origin: None }).await?;
            let text = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let public = custody_attest::PublicKey::from_text(&text)
                .with_context(|| format!("parsing public key {}", key.display()))?;
            let info = custody_ledger::add_signer(&opened.db, &public, role, &comment)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            if let Some(owner) = owner {
                custody_ledger::set_signer_owner(&opened.db, &info.key_id, Some(&owner))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            }
            out(format!("{} {} {}", info.key_id, info.role, info.algorithm));
            Ok(ExitCode::SUCCESS)
        }
        Command::Signer(SignerCommand::SetOwner {
            db,
            key_id,
            owner,
            clear: _,
        }) => {
            let opened = open(&MigrateArgs { db, origin: None }).await?;
            custody_ledger::set_signer_owner(&opened.db, &key_id, owner.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Advisories(AdvisoriesCommand::Import {
            db,
            path,
            notify,
            json,
        }) => {
            let notify = NotifyConfig::try_from(&notify)?;
            let opened = open(&MigrateArgs { db, origin: None }).await?;
            let report = custody_ledger::import_path(
                &opened.db,
                opened.identity.origin(),
                &notify,
                &path,
                custody_ledger::ReadLimits::default(),
            )
            .await
            .with_context(|| format!("importing advisories from {}", path.display()))?;
            for w in &report.warnings {
                err(format!("warning: {w}"));
            }
            if report.warnings_total > report.warnings.len() {
                err(format!(
                    "warning: {} more warnings not shown",
                    report.warnings_total - report.warnings.len()
                ));
            }
            let delivered = if report.notifications > 0 {
                custody_ledger::deliver_pending(&opened.db, &notify)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?
            } else {
                custody_ledger::Delivered::default()
            };
            if json {
                out(serde_json::to_string_pretty(&report)?);
            } else {
                out(format!(
                    "import {}: {} records read: {} new, {} updated, {} unchanged, {} older, {} withdrawn, {} invalid, {} unevaluated",
                    report.import_id,
                    report.records_read,
                    report.new,
                    report.updated,
                    report.unchanged,
                    report.older,
                    report.withdrawn,
                    report.invalid,
                    report.unevaluated
                ));
                out(format!(
                    "newly affected: {} images ({} advisory/image pairs); notifications: {} queued, {} sent, {} failed",
                    report.newly_affected_images,
                    report.newly_affected_pairs,
                    report.notifications,
                    delivered.sent,
                    delivered.failed
                ));
            }
            opened.db.close().await;
            Ok(if delivered.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Advisories(AdvisoriesCommand::Redeliver { db, notify }) => {
            let notify = NotifyConfig::try_from(&notify)?;
            let opened = open(&MigrateArgs { db, origin: None }).await?;
            let requeued = custody_ledger::requeue(&opened.db, Duration::from_secs(600))
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            let delivered = custody_ledger::deliver_pending(&opened.db, &notify)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            out(format!(
                "{requeued} requeued; {} sent, {} failed, {} left pending (channel not configured)",
                delivered.sent, delivered.failed, delivered.skipped
            ));
            Ok(if delivered.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Signer(SignerCommand::List { db }) => {
            let opened = open(&MigrateArgs { db, origin: None }).await?;
            let list = custody_ledger::list_signers(&opened.db)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            for s in list {
                out(format!(
                    "{}\t{}\t{}\t{}\t{}",
                    s.key_id, s.role, s.algorithm, s.created_at, s.comment
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Create { db, role, comment }) => {
            let opened = open(&MigrateArgs { db, origin: None }).await?;
            let token = custody_ledger::create_token(&opened.db, role, &comment)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.public_message()))?;
            out(token);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => {
            let opened = open(&MigrateArgs {
                db: args.db,
                origin: None,
            })
            .await?;
            let report = custody_ledger::audit(&opened.db, &opened.identity).await?;
            for p in &report.problems {
                out(format!("TAMPERED: {p}"));
            }
            out(format!(
                "{} entries, {} nodes, {} checkpoints checked: {}",
                report.entries,
                report.nodes_checked,
                report.checkpoints_checked,
                if report.ok() { "ok" } else { "FAILED" }
            ));
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
