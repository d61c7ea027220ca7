//! `custody proof` (being built; see the issue tracker).

use crate::output::Outcome;

/// Subcommands of `custody proof`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {}

pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {}
}
