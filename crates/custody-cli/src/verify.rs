//! `custody verify` (being built; see the issue tracker).

use crate::output::Outcome;

/// Arguments of `custody verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("custody verify is not available in this build yet")
}
