//! `custody review`: a reviewer signs their decision on an image manifest digest.

use std::path::PathBuf;

use anyhow::Context;
use custody_attest::{Decision, ReviewPredicate, Reviewer, bundle_json, sign_statement};
use custody_types::Digest;

use crate::dsse::EnvelopeFormat;
use crate::key::{SignerArgs, statement_time};
use crate::output::write_atomic;
use crate::output::{Outcome, write_stdout};

/// Arguments of `custody review`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image manifest digest reviewed (`sha256:<hex>`).
    digest: String,
    #[command(flatten)]
    signer: SignerArgs,
    /// Where to write the signed review (atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A comment.
    #[arg(long, value_name = "TEXT")]
    comment: Option<String>,
    /// What was reviewed besides the image: a git commit, a pull-request URL.
    #[arg(long, value_name = "REF")]
    source_ref: Option<String>,
    /// Record a rejection instead of an approval.
    #[arg(long)]
    reject: bool,
    /// The image name, used as the statement subject's name.
    #[arg(long, value_name = "NAME:TAG")]
    image: Option<String>,
    /// Output form.
    #[arg(long, value_enum, default_value_t = EnvelopeFormat::Envelope)]
    format: EnvelopeFormat,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let manifest: Digest = args
        .digest
        .parse()
        .with_context(|| format!("reading the manifest digest {:?}", args.digest))?;
    let key = args.signer.load()?;
    let predicate = ReviewPredicate {
        decision: if args.reject {
            Decision::Rejected
        } else {
            Decision::Approved
        },
        reviewer: Reviewer {
            key_id: key.key_id(),
        },
        source_ref: args.source_ref.clone(),
        comment: args.comment.clone(),
        reviewed_on: statement_time()?,
    };
    let statement = predicate.statement(&manifest, args.image.as_deref());
    let envelope = sign_statement(&statement, &key, args.signer.keyid.into());
    let bytes = match args.format {
        EnvelopeFormat::Envelope => envelope.to_json(),
        EnvelopeFormat::Bundle => bundle_json(&envelope, &key.key_id())?,
    };
    write_atomic(&args.out, &bytes, Some(0o644), args.force)?;
    write_stdout(
        format!(
            "{} {} {manifest} by {}\n",
            envelope.digest(),
            if args.reject { "rejected" } else { "approved" },
            key.key_id()
        )
        .as_bytes(),
    )?;
    Ok(Outcome::Ok)
}
