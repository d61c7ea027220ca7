//! `custody vex`: write and sign an OpenVEX v0.2.0 statement (a product is or is not affected
//! by a vulnerability) as an in-toto statement in a DSSE envelope. The verifier honours it when
//! the signing key is one its policy allows for VEX.

use std::path::PathBuf;

use anyhow::{Context, bail};
use custody_attest::{VexSubject, bundle_json, sign_statement};
use custody_types::Digest;
use custody_vuln::{
    Justification, VexDocument, VexProduct, VexStatement, VexStatus, VexVulnerability,
};

use crate::dsse::EnvelopeFormat;
use crate::key::{SignerArgs, statement_time};
use crate::output::write_atomic;
use crate::output::{Outcome, write_stdout};

/// `--status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum StatusArg {
    /// Not affected (needs `--justification` or `--impact`).
    NotAffected,
    /// Affected (needs `--action`).
    Affected,
    /// Fixed in this product.
    Fixed,
    /// Being investigated.
    UnderInvestigation,
}

/// `--justification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum JustificationArg {
    /// The vulnerable component is not in the product.
    ComponentNotPresent,
    /// The component is present, the vulnerable code is not.
    VulnerableCodeNotPresent,
    /// The vulnerable code cannot run.
    VulnerableCodeNotInExecutePath,
    /// An attacker cannot reach the vulnerable code.
    VulnerableCodeCannotBeControlledByAdversary,
    /// Mitigations in the product prevent exploitation.
    InlineMitigationsAlreadyExist,
}

/// Arguments of `custody vex`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What the statement is about: an image manifest digest (`sha256:<hex>`) or a package
    /// URL (`pkg:npm/lodash@4.17.21`).
    #[arg(long, value_name = "DIGEST|PURL")]
    product: String,
    /// Narrow an image product to these components (package URLs); repeatable.
    #[arg(long, value_name = "PURL")]
    subcomponent: Vec<String>,
    /// The vulnerability: an OSV, CVE or GHSA ID.
    #[arg(long, value_name = "ID")]
    vuln: String,
    /// Other IDs of the same vulnerability; repeatable.
    #[arg(long, value_name = "ID")]
    alias: Vec<String>,
    /// The status.
    #[arg(long, value_enum)]
    status: StatusArg,
    /// Why the product is not affected.
    #[arg(long, value_enum)]
    justification: Option<JustificationArg>,
    /// Why the product is not affected, in words.
    #[arg(long, value_name = "TEXT")]
    impact: Option<String>,
    /// What to do, for `affected`.
    #[arg(long, value_name = "TEXT")]
    action: Option<String>,
    /// Notes on the status.
    #[arg(long, value_name = "TEXT")]
    notes: Option<String>,
    /// The image manifest digest the statement is attached to (its in-toto subject); required
    /// when the product is a package URL.
    #[arg(long, value_name = "sha256:HEX")]
    subject: Option<String>,
    /// The document's author (default: the signing key's ID).
    #[arg(long, value_name = "NAME")]
    author: Option<String>,
    /// The image name, used as the statement subject's name.
    #[arg(long, value_name = "NAME:TAG")]
    image: Option<String>,
    #[command(flatten)]
    signer: SignerArgs,
    /// Where to write the signed statement (atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Output form.
    #[arg(long, value_enum, default_value_t = EnvelopeFormat::Envelope)]
    format: EnvelopeFormat,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

fn purl_product(purl: &str) -> anyhow::Result<VexProduct> {
    if !purl.starts_with("pkg:") {
        bail!("{purl:?} is neither a sha256 digest nor a package URL (pkg:...)");
    }
    Ok(VexProduct::purl(purl))
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let key = args.signer.load()?;
    let product_digest = args.product.parse::<Digest>().ok();
    let mut product = match &product_digest {
        Some(d) => VexProduct::image(d),
        None => purl_product(&args.product).context("reading --product")?,
    };
    if !args.subcomponent.is_empty() {
        if product_digest.is_none() {
            bail!(
                "--subcomponent narrows an image product; --product {} is a package",
                args.product
            );
        }
        product.subcomponents = args
            .subcomponent
            .iter()
            .map(|p| purl_product(p))
            .collect::<anyhow::Result<_>>()
            .context("reading --subcomponent")?;
    }
    let subject: Digest = match (&args.subject, &product_digest) {
        (Some(s), _) => s
            .parse()
            .with_context(|| format!("reading --subject {s:?}"))?,
        (None, Some(d)) => d.clone(),
        (None, None) => bail!(
            "a VEX statement about a package needs the image it is attached to\nhint: pass --subject sha256:<image manifest digest>"
        ),
    };
    let status = match args.status {
        StatusArg::NotAffected => VexStatus::NotAffected,
        StatusArg::Affected => VexStatus::Affected,
        StatusArg::Fixed => VexStatus::Fixed,
        StatusArg::UnderInvestigation => VexStatus::UnderInvestigation,
    };
    if args.justification.is_some() && status != VexStatus::NotAffected {
        bail!("--justification only applies to --status not_affected");
    }
    let justification = args.justification.map(|j| match j {
        JustificationArg::ComponentNotPresent => Justification::ComponentNotPresent,
        JustificationArg::VulnerableCodeNotPresent => Justification::VulnerableCodeNotPresent,
        JustificationArg::VulnerableCodeNotInExecutePath => {
            Justification::VulnerableCodeNotInExecutePath
        }
        JustificationArg::VulnerableCodeCannotBeControlledByAdversary => {
            Justification::VulnerableCodeCannotBeControlledByAdversary
        }
        JustificationArg::InlineMitigationsAlreadyExist => {
            Justification::InlineMitigationsAlreadyExist
        }
    });
    let time = statement_time()?;
    let statement = VexStatement {
        id: None,
        vulnerability: VexVulnerability {
            id: None,
            name: args.vuln.clone(),
            description: None,
            aliases: args.alias.clone(),
        },
        products: vec![product],
        status,
        justification,
        impact_statement: args.impact.clone(),
        action_statement: args.action.clone(),
        status_notes: args.notes.clone(),
        timestamp: Some(time),
    };
    let author = args
        .author
        .clone()
        .unwrap_or_else(|| format!("key {}", key.key_id()));
    let document = VexDocument::new(&author, time, vec![statement]).map_err(|e| {
        anyhow::anyhow!(
            "{e}\nhint: not_affected needs --justification or --impact; affected needs --action"
        )
    })?;
    let in_toto = VexSubject {
        manifest: subject.clone(),
        image_name: args.image.clone(),
    }
    .statement(document.to_json())
    .context("building the VEX statement")?;
    let envelope = sign_statement(&in_toto, &key, args.signer.keyid.into());
    let bytes = match args.format {
        EnvelopeFormat::Envelope => envelope.to_json(),
        EnvelopeFormat::Bundle => bundle_json(&envelope, &key.key_id())?,
    };
    write_atomic(&args.out, &bytes, Some(0o644), args.force)?;
    write_stdout(
        format!(
            "{} {} {} for {} (subject {subject}) by {}\n",
            envelope.digest(),
            args.vuln,
            status,
            args.product,
            key.key_id()
        )
        .as_bytes(),
    )?;
    Ok(Outcome::Ok)
}
