//! `custody submit` (being built; see the issue tracker).

use crate::output::Outcome;

/// Arguments of `custody submit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("custody submit is not available in this build yet")
}
