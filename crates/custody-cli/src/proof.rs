//! `custody proof verify`: checks an entry proof file offline against the ledger's log key.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use custody_attest::{Envelope, Limits};
use custody_log::{EntryProof, MAX_ENTRY_PROOF_BYTES};

use crate::output::{Outcome, write_stdout};

/// Subcommands of `custody proof`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check an entry proof (FILE.proof.json) offline: checkpoint signature, tree size, audit
    /// path, and with --entry the envelope's leaf hash. Exit 0 valid, 1 invalid, 2 error.
    Verify {
        /// The entry proof file.
        entry_proof: PathBuf,
        /// The ledger's log key: its log.pub (PEM), or a C2SP vkey string or file.
        #[arg(long)]
        log_key: String,
        /// The envelope the proof is for (checks that the proof is about these bytes).
        #[arg(long)]
        entry: Option<PathBuf>,
    },
}

fn read_limited(path: &PathBuf, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes)
}

pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Verify {
            entry_proof,
            log_key,
            entry,
        } => {
            let bytes = read_limited(&entry_proof, MAX_ENTRY_PROOF_BYTES)?;
            let proof = EntryProof::from_json(&bytes)
                .with_context(|| format!("{} is not an entry proof", entry_proof.display()))?;
            let key = crate::submit::parse_log_key(&log_key, Some(&proof.log_origin))?;
            let canonical = match &entry {
                Some(path) => {
                    let raw = read_limited(path, Limits::default().max_envelope_bytes())?;
                    let env = Envelope::from_json(&raw)
                        .with_context(|| format!("{} is not a DSSE envelope", path.display()))?;
                    Some(env.to_json())
                }
                None => None,
            };
            match proof.verify(canonical.as_deref(), &key) {
                Ok(v) => {
                    write_stdout(
                        format!(
                            "valid: entry {} (leaf {}) is in log {} at tree size {}\n",
                            v.log_index,
                            v.leaf_hash,
                            v.checkpoint.origin(),
                            v.checkpoint.size()
                        )
                        .as_bytes(),
                    )?;
                    Ok(Outcome::Ok)
                }
                Err(e) => {
                    let _ = std::io::Write::write_all(
                        &mut std::io::stderr(),
                        format!("invalid: {}: {e}\n", entry_proof.display()).as_bytes(),
                    );
                    Ok(Outcome::Failed)
                }
            }
        }
    }
}
