//! Test-only helpers shared by every crate's tests.
//!
//! Tests that need the real images and conformance vectors under `../shared/testdata` find
//! them through `CUSTODY_TESTDATA` (CI always sets it). Without it such a test prints one line
//! saying it was skipped and returns, so `cargo test --workspace` passes on any machine while
//! CI runs everything. The line goes straight to the process's stderr so libtest's capture
//! does not swallow it.
#![deny(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the environment variable that locates `../shared/testdata`.
pub const TESTDATA_ENV: &str = "CUSTODY_TESTDATA";

/// Name of the environment variable holding a PostgreSQL URL for the ledger's tests.
pub const POSTGRES_ENV: &str = "CUSTODY_TEST_POSTGRES_URL";

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate lives in <root>/crates/custody-testkit.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Prints the one-line skip notice for `test` (uncaptured).
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}

/// The test data directory, or `None` (after printing a skip line for `test`) when
/// `CUSTODY_TESTDATA` is unset. A relative value is taken relative to the workspace root, as
/// `.ci/run` passes `../shared/testdata`.
pub fn testdata(test: &str) -> Option<PathBuf> {
    match std::env::var_os(TESTDATA_ENV) {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            let p = if p.is_relative() {
                workspace_root().join(p)
            } else {
                p
            };
            assert!(
                p.is_dir(),
                "{TESTDATA_ENV}={} is not a directory",
                p.display()
            );
            Some(p)
        }
        _ => {
            skip(test, &format!("{TESTDATA_ENV} is not set"));
            None
        }
    }
}

/// The PostgreSQL URL for database tests, or `None` (after printing a skip line) when
/// `CUSTODY_TEST_POSTGRES_URL` is unset.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            skip(test, &format!("{POSTGRES_ENV} is not set"));
            None
        }
    }
}

/// Returns the test data directory from the enclosing test function, or returns early (after
/// one skip line) when it is not configured.
#[macro_export]
macro_rules! testdata_or_skip {
    () => {
        match $crate::testdata(module_path!()) {
            Some(dir) => dir,
            None => return,
        }
    };
}

/// Path of a binary built from this workspace (`custody`, `custody-ledger`, `custody-gate`),
/// found next to the running test executable in the target directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test-exe>  ->  target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary {} not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The Python interpreter of the interop venv built by `../shared/tools/interop/selftest.sh`
/// (`$INTEROP_VENV`, default `/var/tmp/interop-venv`), and the tools folder, or `None` (after a
/// skip line) when either is missing. `.ci/run` creates the venv.
pub fn interop(test: &str) -> Option<(PathBuf, PathBuf)> {
    let testdata = testdata(test)?;
    let tools = testdata.join("../tools/interop");
    let venv = std::env::var_os("INTEROP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/interop-venv"));
    let python = venv.join("bin/python");
    if !python.is_file() || !tools.is_dir() {
        skip(
            test,
            &format!(
                "interop venv {} not found (run ../shared/tools/interop/selftest.sh)",
                venv.display()
            ),
        );
        return None;
    }
    Some((python, tools))
}
