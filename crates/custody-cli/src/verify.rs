//! `custody verify`: decide whether an image may be deployed under a policy.
//!
//! Exit codes: 0 allowed, 1 denied, 2 could not decide. Everything that is not a complete,
//! verified decision (a policy with mistakes, an unreadable bundle, a ledger that does not
//! answer, an image that cannot be opened) is exit 2: the gate fails closed.
//!
//! With an IMAGE (a path), its manifest and config are read and every layer blob is checked
//! against its digest and DiffID. With a DIGEST, the manifest and config come from the
//! evidence (checked against the digest) and no layer is read.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use custody_log::TrustedCheckpoint;
use custody_types::Digest;
use custody_verify::{
    Bundle, CollectOptions, Context, Evidence, EvidenceSource, FetchError, ImageFacts, LayerCheck,
    LedgerTransport, MAX_BUNDLE_BYTES, MAX_POLICY_BYTES, Policy, collect_from_ledger,
};

use crate::output::{Outcome, write_atomic, write_stdout};

/// Arguments of `custody verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image: a path (OCI layout, oci-archive, docker-archive) or a manifest digest
    /// (sha256:...), in which case no layer is read.
    image: String,
    /// The policy file (YAML; see docs/policy.md).
    #[arg(long)]
    policy: PathBuf,
    /// Fetch the evidence from this ledger (base URL).
    #[arg(
        long,
        env = "CUSTODY_LEDGER_URL",
        conflicts_with = "bundle",
        required_unless_present = "bundle"
    )]
    ledger: Option<String>,
    /// Read the evidence from this offline bundle (`custody bundle`); no network is used.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Reader token for the ledger.
    #[arg(long, env = "CUSTODY_LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Extra CA certificate (PEM) to trust for an https ledger.
    #[arg(long, env = "CUSTODY_LEDGER_CA")]
    ca_cert: Option<PathBuf>,
    /// The last checkpoint this verifier trusted; a newer one must be proven consistent with
    /// it. Created on first use, updated (atomically) only when the image is allowed.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

/// A blocking GET against the ledger over ureq (rustls).
pub(crate) struct LedgerHttp {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// Largest ledger answer read (an entry with an embedded SBOM, or an SBOM blob).
const MAX_ANSWER_BYTES: u64 = 256 << 20;

impl LedgerHttp {
    pub(crate) fn new(url: &str, token: Option<String>, ca: Option<&Path>) -> anyhow::Result<Self> {
        Ok(LedgerHttp {
            agent: crate::submit::client(ca)?,
            base: crate::submit::base_url(url)?,
            token,
        })
    }
}

impl LedgerTransport for LedgerHttp {
    fn base_url(&self) -> &str {
        &self.base
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req
            .call()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        match status {
            200 => Ok(body),
            404 => Err(FetchError::NotFound),
            _ => {
                let mut message = String::from_utf8_lossy(&body).into_owned();
                message.truncate(300);
                Err(FetchError::Status { status, message })
            }
        }
    }
}

/// Reads at most `max` bytes of `path`, refusing larger files before reading them.
pub(crate) fn read_bounded(path: &Path, max: usize, what: &str) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("opening {what} {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max as u64 {
        bail!(
            "{what} {} is {len} bytes, more than the {max} accepted",
            path.display()
        );
    }
    let mut out = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut out)
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if out.len() > max {
        bail!("{what} {} is more than {max} bytes", path.display());
    }
    Ok(out)
}

/// Loads and checks a policy file; key paths are relative to the policy's folder.
pub(crate) fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let bytes = read_bounded(path, MAX_POLICY_BYTES, "policy")?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("policy {} is not UTF-8", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut load = |p: &str| -> Result<String, String> {
        let full = dir.join(p);
        let bytes = read_bounded(&full, custody_attest::MAX_KEY_FILE_BYTES as usize, "key")
            .map_err(|e| format!("{:#}", e.root_cause()))?;
        String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())
    };
    Policy::parse(&text, &mut load).map_err(|e| {
        let mut msg = format!(
            "policy {} has {} mistake(s)",
            path.display(),
            e.problems.len()
        );
        for p in &e.problems {
            msg.push_str(&format!("\n  {}:{p}", path.display()));
        }
        anyhow::anyhow!(msg)
    })
}

fn read_state(path: &Path) -> anyhow::Result<Option<TrustedCheckpoint>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading state {}", path.display())),
        Ok(_) => {}
    }
    let bytes = read_bounded(path, 64 * 1024, "state file")?;
    let state: TrustedCheckpoint = serde_json::from_slice(&bytes)
        .with_context(|| format!("state file {} is not a trusted checkpoint", path.display()))?;
    Ok(Some(state))
}

/// The image facts: from the image on disk (layers checked), or from the evidence by digest.
fn image_facts(image: &str, evidence: Option<&Evidence>) -> anyhow::Result<ImageFacts> {
    if let Ok(digest) = image.parse::<Digest>() {
        let evidence = evidence.context("internal: evidence needed for a digest")?;
        let manifest = evidence.blob(&digest).with_context(|| {
            format!("the evidence does not hold the manifest of {digest}\nhint: `custody submit ATTEST_DIR` stores the image's manifest and config in the ledger; or verify the image itself (a path)")
        })?;
        let config_digest = serde_json::from_slice::<serde_json::Value>(&manifest.data)
            .ok()
            .and_then(|m| {
                m.pointer("/config/digest")?
                    .as_str()?
                    .parse::<Digest>()
                    .ok()
            })
            .with_context(|| format!("manifest {digest} names no config digest"))?;
        let config = evidence.blob(&config_digest).with_context(|| {
            format!("the evidence does not hold config {config_digest} of {digest}")
        })?;
        return ImageFacts::from_blobs(&digest, &manifest.data, &config.data)
            .with_context(|| format!("image {digest}"));
    }
    let img =
        custody_oci::Image::open_path(image).with_context(|| format!("opening image {image}"))?;
    let mut failures = Vec::new();
    for i in 0..img.layers().len() {
        if let Err(e) = img.verify_layer(i) {
            failures.push((i, e.to_string()));
        }
    }
    let facts = ImageFacts::from_blobs(
        img.manifest_digest(),
        img.manifest_bytes(),
        img.config_bytes(),
    )
    .with_context(|| format!("image {image}"))?;
    Ok(facts.with_layer_check(if failures.is_empty() {
        LayerCheck::Verified
    } else {
        LayerCheck::Failed(failures)
    }))
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let policy = load_policy(&args.policy)?;
    let trusted = match &args.state {
        Some(p) => read_state(p)?,
        None => None,
    };
    // The image digest first (opening a path checks its layers), then the evidence for it.
    let (facts, evidence) = if args.image.parse::<Digest>().is_ok() {
        let digest: Digest = args.image.parse()?;
        let evidence = evidence(&args, &policy, &digest, trusted.as_ref())?;
        (image_facts(&args.image, Some(&evidence))?, evidence)
    } else {
        let facts = image_facts(&args.image, None)?;
        let evidence = evidence(&args, &policy, &facts.manifest_digest, trusted.as_ref())?;
        (facts, evidence)
    };
    let cx = Context {
        now: jiff::Timestamp::now(),
        trusted,
    };
    let decision = custody_verify::verify(&policy, &facts, &evidence, &cx);
    if decision.allowed
        && let (Some(path), Some(next)) = (&args.state, &decision.next_state)
    {
        let mut json = serde_json::to_vec_pretty(next)?;
        json.push(b'\n');
        write_atomic(path, &json, None, true)?;
    }
    let out = match args.output {
        Format::Text => decision.to_text(),
        Format::Json => decision.to_json(),
    };
    write_stdout(out.as_bytes())?;
    Ok(if decision.allowed {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn evidence(
    args: &Args,
    policy: &Policy,
    digest: &Digest,
    trusted: Option<&TrustedCheckpoint>,
) -> anyhow::Result<Evidence> {
    if let Some(path) = &args.bundle {
        let bytes = read_bounded(path, MAX_BUNDLE_BYTES, "bundle")?;
        let bundle = Bundle::parse(&bytes).with_context(|| format!("bundle {}", path.display()))?;
        return bundle
            .evidence(digest, trusted.map(|t| t.size))
            .with_context(|| format!("bundle {}", path.display()));
    }
    let url = args
        .ledger
        .as_deref()
        .context("give --ledger URL or --bundle FILE")?;
    let ledger = LedgerHttp::new(url, args.token.clone(), args.ca_cert.as_deref())?;
    let options = CollectOptions {
        trusted_size: trusted.map(|t| t.size),
        consistency_from: Vec::new(),
        sboms: !policy.rules().config.forbidden_packages.is_empty(),
    };
    collect_from_ledger(&ledger, digest, &options).context("collecting evidence from the ledger")
}
