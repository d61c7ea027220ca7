//! `custody bundle`: one offline custody bundle for an image, so an air-gapped gate decides
//! with zero network calls (`custody verify DIGEST --bundle FILE`).
//!
//! Everything is fetched from the ledger at one checkpoint: every attestation about the image
//! and its base, one inclusion proof each, the SBOM blobs not embedded in the attestations,
//! and the manifest and config from the ledger's blob store (`custody submit DIR` puts them
//! there; each is checked against its digest on the way in). `--image PATH` supplies them
//! for images whose attest directory was submitted without them. With
//! `--consistency-from SIZE` (the tree size in a gate's `--state`), a consistency proof from
//! that size is included so the gate can advance its state offline.

use std::path::PathBuf;

use anyhow::Context as _;
use custody_types::Digest;
use custody_verify::{Bundle, CollectOptions, collect_from_ledger};

use crate::output::Outcome;
use crate::output::write_atomic;
use crate::verify::LedgerHttp;

/// Arguments of `custody bundle`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image manifest digest (sha256:...).
    digest: Digest,
    /// The ledger to fetch from (base URL).
    #[arg(long, env = "CUSTODY_LEDGER_URL")]
    ledger: String,
    /// Where to write the bundle.
    #[arg(short = 'o', long = "out")]
    out: PathBuf,
    /// Reader token for the ledger.
    #[arg(long, env = "CUSTODY_LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Extra CA certificate (PEM) to trust for an https ledger.
    #[arg(long, env = "CUSTODY_LEDGER_CA")]
    ca_cert: Option<PathBuf>,
    /// Include a consistency proof from this tree size (a gate's trusted state); repeatable.
    #[arg(long = "consistency-from", value_name = "SIZE")]
    consistency_from: Vec<u64>,
    /// Take the manifest and config from this image (path) instead of the ledger's blob
    /// store, for images submitted without them; its manifest digest must be DIGEST.
    #[arg(long)]
    image: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let ledger = LedgerHttp::new(&args.ledger, args.token.clone(), args.ca_cert.as_deref())?;
    let options = CollectOptions {
        trusted_size: None,
        consistency_from: args.consistency_from.clone(),
        sboms: true,
    };
    let mut evidence = collect_from_ledger(&ledger, &args.digest, &options)
        .with_context(|| format!("collecting the custody of {}", args.digest))?;
    if let Some(path) = &args.image {
        let img = custody_oci::Image::open_path(path)
            .with_context(|| format!("opening image {}", path.display()))?;
        if img.manifest_digest() != &args.digest {
            anyhow::bail!(
                "image {} has manifest {}, not {}",
                path.display(),
                img.manifest_digest(),
                args.digest
            );
        }
        evidence.add_blob(
            img.manifest_digest().clone(),
            "application/vnd.oci.image.manifest.v1+json",
            img.manifest_bytes().to_vec(),
        )?;
        evidence.add_blob(
            img.config_digest().clone(),
            "application/vnd.oci.image.config.v1+json",
            img.config_bytes().to_vec(),
        )?;
    }
    let has_manifest = evidence.blob(&args.digest).is_some();
    let entries = evidence.entries.len();
    let bundle = Bundle {
        image: args.digest.clone(),
        created_at: Some(jiff::Timestamp::now()),
        ledger: Some(ledger_url(&args.ledger)),
        evidence,
    };
    write_atomic(&args.out, &bundle.to_json(), None, true)?;
    let mut note = format!(
        "wrote {} with {entries} entries for {}",
        args.out.display(),
        args.digest
    );
    if !has_manifest {
        note.push_str(&format!(
            "\nwarning: the ledger does not store the manifest of {}: this bundle verifies the image \
             only by path, not by digest",
            args.digest
        ));
        note.push_str(
            "\nhint: `custody submit ATTEST_DIR` uploads the manifest and config `custody attest` \
             wrote; or bundle again with --image PATH",
        );
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{note}");
    Ok(Outcome::Ok)
}

fn ledger_url(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}
