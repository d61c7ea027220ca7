//! The `custody` command: the builder's CI signing step, the auditor's queries and the
//! deploy gate's verifier, as one thin binary over the library crates.
//!
//! Exit codes follow the house style: 0 ok (or allowed), 1 a check failed (or denied),
//! 2 an error (could not decide). A broken pipe on stdout exits 0. Data goes to stdout,
//! diagnostics to stderr.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod attest;
mod bundle;
mod dsse;
mod key;
mod output;
mod policy;
mod proof;
mod query;
mod review;
mod sbom;
mod scan;
mod submit;
mod verify;
mod vex;

/// Chain of custody for container images: SBOMs, signed attestations, a tamper-evident
/// ledger and a deploy gate.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a CycloneDX (or SPDX) SBOM for an image and, optionally, one per layer.
    Sbom(sbom::Args),
    /// Write SBOMs and sign layer and build-provenance attestations for an image.
    Attest(attest::Args),
    /// Sign a reviewer's approval of an image manifest digest.
    Review(review::Args),
    /// Match an image's SBOM against OSV advisories and sign the findings.
    Scan(scan::Args),
    /// Write and sign OpenVEX statements.
    Vex(vex::Args),
    /// Record attestations in a custody ledger and keep each entry's inclusion proof.
    Submit(submit::Args),
    /// Ask a ledger which images contain a package, what a signer signed, an image's custody.
    Query(query::Args),
    /// Check entry proofs offline against the ledger's log key.
    #[command(subcommand)]
    Proof(proof::Command),
    /// Decide whether an image may be deployed under a policy (exit 0 allow, 1 deny, 2 undecided).
    Verify(verify::Args),
    /// Write an offline custody bundle for an image, for air-gapped deploy gates.
    Bundle(bundle::Args),
    /// Check policy files.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Generate signing keys.
    #[command(subcommand)]
    Key(key::Command),
    /// Sign and verify raw DSSE envelopes.
    #[command(subcommand)]
    Dsse(dsse::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sbom(args) => sbom::run(args),
        Command::Attest(args) => attest::run(args),
        Command::Review(args) => review::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Vex(args) => vex::run(args),
        Command::Submit(args) => submit::run(args),
        Command::Query(args) => query::run(args),
        Command::Proof(cmd) => proof::run(cmd),
        Command::Verify(args) => verify::run(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Key(cmd) => key::run(cmd),
        Command::Dsse(cmd) => dsse::run(cmd),
    };
    output::finish(result)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn outcomes_map_to_the_documented_exit_codes() {
        assert_eq!(super::output::Outcome::Ok.code(), 0);
        assert_eq!(super::output::Outcome::Failed.code(), 1);
    }
}
