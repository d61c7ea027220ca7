//! `custody dsse`: sign any payload into a DSSE envelope, and verify envelopes (or key-based
//! Sigstore bundles) with one or more public keys.
//!
//! `verify` exits 0 when the envelope is valid, 1 when it is not (the reason on stderr: a bad
//! signature, too few signers, a wrong payload type, a malformed envelope), and 2 when it could
//! not decide (an unreadable file or key, a file over the size limit).

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use custody_attest::{
    Envelope, EnvelopeError, KeySource, Limits, PublicKey, VerifiedEnvelope, bundle_json,
    load_public_key, parse_bundle,
};
use serde::Deserialize;
use serde_json::json;

use crate::key::SignerArgs;
use crate::output::write_atomic;
use crate::output::{Outcome, write_stdout};

/// Subcommands of `custody dsse`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Sign a file (or `-` for stdin) into a DSSE envelope.
    Sign(SignArgs),
    /// Verify a DSSE envelope or a key-based Sigstore bundle: exit 0 valid, 1 invalid, 2 error.
    Verify(VerifyArgs),
}

/// Output form of `dsse sign`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EnvelopeFormat {
    /// A bare DSSE envelope (JSON).
    Envelope,
    /// A Sigstore bundle v0.3 (key-based, public-key hint, no tlog entries).
    Bundle,
}

/// Arguments of `custody dsse sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The payload file, or `-` for stdin.
    payload: String,
    #[command(flatten)]
    signer: SignerArgs,
    /// The payload type written in the envelope (and signed).
    #[arg(long, default_value = custody_types::media_types::IN_TOTO_JSON)]
    payload_type: String,
    /// Write the envelope to FILE (atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output form.
    #[arg(long, value_enum, default_value_t = EnvelopeFormat::Envelope)]
    format: EnvelopeFormat,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// Output of `dsse verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputArg {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `custody dsse verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The envelope (or Sigstore bundle) file, or `-` for stdin.
    envelope: String,
    /// A public key (SPKI PEM or securesystemslib JSON, a file or `env:NAME`); repeat for
    /// several. Every key is tried against every signature: the envelope's keyid is a hint.
    #[arg(long = "key", required = true, value_name = "PUB")]
    keys: Vec<String>,
    /// How many distinct keys must each have signed.
    #[arg(long, default_value_t = 1, value_name = "N")]
    require: usize,
    /// Also require this payload type.
    #[arg(long, value_name = "TYPE")]
    payload_type: Option<String>,
    /// Largest payload accepted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_payload_bytes, value_name = "BYTES")]
    max_payload_size: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputArg::Text)]
    output: OutputArg,
    /// Write the verified payload to FILE.
    #[arg(long, value_name = "FILE")]
    payload_out: Option<PathBuf>,
}

pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Sign(args) => sign(args),
        Command::Verify(args) => verify(args),
    }
}

/// Reads a file or stdin, refusing more than `max` bytes.
fn read_input(name: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = if name == "-" {
        std::io::stdin()
            .lock()
            .take(max + 1)
            .read_to_end(&mut bytes)
    } else {
        let file = std::fs::File::open(name).with_context(|| format!("reading {name}"))?;
        let len = file
            .metadata()
            .with_context(|| format!("reading {name}"))?
            .len();
        if len > max {
            anyhow::bail!("{name} is {len} bytes, over the {max}-byte limit");
        }
        file.take(max + 1).read_to_end(&mut bytes)
    };
    read.with_context(|| format!("reading {name}"))?;
    if bytes.len() as u64 > max {
        anyhow::bail!("{name} is over the {max}-byte limit");
    }
    Ok(bytes)
}

fn sign(args: SignArgs) -> anyhow::Result<Outcome> {
    let key = args.signer.load()?;
    let limits = Limits::default();
    let payload = read_input(&args.payload, limits.max_payload_bytes as u64)?;
    let envelope = Envelope::sign(
        &args.payload_type,
        payload,
        &[&key],
        args.signer.keyid.into(),
    );
    let bytes = match args.format {
        EnvelopeFormat::Envelope => envelope.to_json(),
        EnvelopeFormat::Bundle => bundle_json(&envelope, &key.key_id())?,
    };
    match &args.output {
        Some(path) => write_atomic(path, &bytes, Some(0o644), args.force)?,
        None => {
            let mut out = bytes;
            out.push(b'\n');
            write_stdout(&out)?;
        }
    }
    Ok(Outcome::Ok)
}

/// Only the member that tells a bundle from an envelope; everything else is ignored here.
#[derive(Deserialize)]
struct Peek {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
}

enum Checked {
    Valid(VerifiedEnvelope),
    Invalid(String),
}

fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let limits = Limits {
        max_payload_bytes: args.max_payload_size,
        ..Limits::default()
    };
    let mut keys: Vec<PublicKey> = Vec::with_capacity(args.keys.len());
    for k in &args.keys {
        let source: KeySource = k.parse()?;
        keys.push(load_public_key(&source)?);
    }
    if args.require == 0 {
        anyhow::bail!("--require must be at least 1");
    }
    let distinct = {
        let mut ids: Vec<_> = keys.iter().map(PublicKey::key_id).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    if args.require > distinct {
        anyhow::bail!(
            "--require {} but only {distinct} distinct keys were given",
            args.require
        );
    }
    // Bundles carry a little more than the envelope (Rekor entries, timestamps).
    let max_file = limits.max_envelope_bytes() as u64 + 1024 * 1024;
    let bytes = read_input(&args.envelope, max_file)?;
    let name = &args.envelope;
    let checked =
        check(&bytes, &keys, &args, &limits).with_context(|| format!("envelope {name}"))?;
    match checked {
        Checked::Valid(v) => {
            if let Some(path) = &args.payload_out {
                write_atomic(path, v.payload(), Some(0o644), true)?;
            }
            let out = match args.output {
                OutputArg::Json => {
                    let mut s = json!({
                        "valid": true,
                        "envelope": name,
                        "payloadType": v.payload_type(),
                        "envelopeDigest": v.digest(),
                        "signers": v.signers(),
                        "required": args.require,
                    })
                    .to_string();
                    s.push('\n');
                    s
                }
                OutputArg::Text => {
                    let mut s = format!(
                        "valid: {name} ({} of {} required signers)\npayloadType: {}\n",
                        v.signers().len(),
                        args.require,
                        v.payload_type()
                    );
                    for id in v.signers() {
                        let kt = keys
                            .iter()
                            .find(|k| &k.key_id() == id)
                            .map(|k| k.key_type().as_str())
                            .unwrap_or("");
                        s.push_str(&format!("signed by: {id} ({kt})\n"));
                    }
                    s
                }
            };
            write_stdout(out.as_bytes())?;
            Ok(Outcome::Ok)
        }
        Checked::Invalid(reason) => {
            if args.output == OutputArg::Json {
                let mut s = json!({"valid": false, "envelope": name, "reason": reason}).to_string();
                s.push('\n');
                write_stdout(s.as_bytes())?;
            }
            eprintln_invalid(name, &reason);
            Ok(Outcome::Failed)
        }
    }
}

#[allow(clippy::print_stderr)]
fn eprintln_invalid(name: &str, reason: &str) {
    eprintln!("invalid: envelope {name}: {reason}");
}

/// Structural and signature problems make the envelope invalid (exit 1); size limits are an
/// error (exit 2): custody refused to look, it did not find the envelope bad.
fn check(
    bytes: &[u8],
    keys: &[PublicKey],
    args: &VerifyArgs,
    limits: &Limits,
) -> anyhow::Result<Checked> {
    let is_bundle = serde_json::from_slice::<Peek>(bytes)
        .ok()
        .and_then(|p| p.media_type)
        .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"));
    let envelope = if is_bundle {
        match parse_bundle(bytes, limits) {
            Ok(b) => match b.content {
                custody_attest::BundleContent::Dsse(env) => env,
                custody_attest::BundleContent::Message { .. } => {
                    return Ok(Checked::Invalid(
                        "the bundle holds a message signature, not a DSSE envelope".into(),
                    ));
                }
            },
            Err(custody_attest::BundleError::Envelope(e)) => return envelope_problem(e),
            Err(custody_attest::BundleError::TooLarge { size, max }) => {
                anyhow::bail!("bundle is {size} bytes, over the {max}-byte limit")
            }
            Err(e) => return Ok(Checked::Invalid(e.to_string())),
        }
    } else {
        match Envelope::from_json_with(bytes, limits) {
            Ok(env) => env,
            Err(e) => return envelope_problem(e),
        }
    };
    let verified = match envelope.verify(keys, args.require) {
        Ok(v) => v,
        Err(e) => return Ok(Checked::Invalid(e.to_string())),
    };
    if let Some(expected) = &args.payload_type
        && verified.payload_type() != expected
    {
        return Ok(Checked::Invalid(format!(
            "payloadType is {:?}, expected {expected:?}",
            verified.payload_type()
        )));
    }
    Ok(Checked::Valid(verified))
}

fn envelope_problem(e: EnvelopeError) -> anyhow::Result<Checked> {
    match e {
        EnvelopeError::TooLarge { .. } | EnvelopeError::PayloadTooLarge { .. } => {
            Err(anyhow::Error::new(e))
        }
        other => Ok(Checked::Invalid(other.to_string())),
    }
}
