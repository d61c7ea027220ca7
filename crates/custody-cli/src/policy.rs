//! `custody policy check`: read a policy as `custody verify` would and report every mistake
//! with its line, or a summary of what the policy trusts and requires.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::output::{Outcome, write_stdout};

/// Subcommands of `custody policy`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check a policy file: parse it, load every key, and report every mistake with its line
    /// (exit 2) or print the effective policy with its defaults (exit 0).
    Check {
        /// The policy file.
        file: PathBuf,
        /// Output format of the effective policy.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Check { file, output } => {
            let policy = crate::verify::load_policy(&file)?;
            let out = match output {
                Format::Json => {
                    let keys: Vec<_> = policy
                        .keys()
                        .iter()
                        .map(|k| {
                            serde_json::json!({
                                "file": k.source,
                                "keyId": k.key.key_id(),
                                "roles": k.roles,
                            })
                        })
                        .collect();
                    let mut s = serde_json::to_string_pretty(&serde_json::json!({
                        "policy": policy.digest(),
                        "logKey": policy.log_key().to_string(),
                        "logOrigin": policy.log_origin(),
                        "keys": keys,
                        "rules": policy.rules(),
                    }))?;
                    s.push('\n');
                    s
                }
                Format::Text => {
                    let mut s = String::new();
                    writeln!(
                        s,
                        "policy {} is valid ({})",
                        file.display(),
                        policy.digest()
                    )?;
                    writeln!(s, "log    {} ({})", policy.log_origin(), policy.log_key())?;
                    for k in policy.keys() {
                        let roles: Vec<&str> = k.roles.iter().map(|r| r.as_str()).collect();
                        writeln!(
                            s,
                            "key    {} {} ({})",
                            k.key.key_id(),
                            roles.join(", "),
                            k.source
                        )?;
                    }
                    let rules = serde_json::to_value(policy.rules())?;
                    if let Some(map) = rules.as_object() {
                        for (name, value) in map {
                            writeln!(s, "rule   {name}: {value}")?;
                        }
                    }
                    s
                }
            };
            write_stdout(out.as_bytes())?;
            Ok(Outcome::Ok)
        }
    }
}
