//! The deployed pieces as the end-to-end tests run them: the real `custody`, `custody-ledger`
//! and `custody-gate` binaries as child processes (services on a free loopback port that they
//! report on stdout), and the base image a base library would publish, cut from a real image.

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::binary;

/// What a finished command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code `want`, showing both streams otherwise; returns stdout.
    pub fn expect(&self, want: i32, what: &str) -> &str {
        assert_eq!(
            self.code, want,
            "{what}: exit {} (want {want})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts success; returns stdout.
    pub fn ok(&self, what: &str) -> &str {
        self.expect(0, what)
    }
}

/// Runs the workspace binary `name` with `args`, without the environment that would point it
/// at another ledger or fix its clock.
pub fn run<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Run {
    let out = Command::new(binary(name))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("CUSTODY_LEDGER_URL")
        .env_remove("CUSTODY_LEDGER_TOKEN")
        .env_remove("CUSTODY_LEDGER_CA")
        .env_remove("CUSTODY_KEY_PASSWORD")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `custody ARGS`.
pub fn custody<S: AsRef<OsStr>>(args: &[S]) -> Run {
    run("custody", args)
}

/// `custody-ledger ARGS --data-dir DATA`, which must succeed; its stdout.
pub fn ledger_admin(data: &Path, args: &[&str]) -> String {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.push(OsStr::new("--data-dir"));
    all.push(data.as_os_str());
    run("custody-ledger", &all)
        .ok(&format!("custody-ledger {args:?}"))
        .to_owned()
}

/// A running service (`custody-ledger serve`, `custody-gate`), killed when dropped.
pub struct Service {
    child: Child,
    /// Its base URL, as it reported it (`listening on URL`).
    pub url: String,
    /// Where its stderr (logs) goes.
    pub log: PathBuf,
}

impl Service {
    /// Starts workspace binary `name` with `args` (which must make it listen on a free port,
    /// e.g. `--listen 127.0.0.1:0`) and waits for its `listening on URL` line. Its stderr
    /// goes to `log`; the rest of its stdout is drained so it never blocks on a full pipe.
    pub fn start<S: AsRef<OsStr>>(name: &str, args: &[S], log: &Path) -> Service {
        let mut child = Command::new(binary(name))
            .args(args)
            .env("RUST_LOG", "info")
            .env("CUSTODY_LEDGER_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(fs::File::create(log).unwrap()))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(url) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                    sent = true;
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{name} did not report its address; its log:\n{}",
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
        };
        Service {
            child,
            url,
            log: log.to_owned(),
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "service did not stop cleanly ({status}); its log:\n{}",
            fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn put_blob(blobs: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = hex::encode(Sha256::digest(bytes));
    fs::write(blobs.join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// Cuts the base image a base library would have published from a single-image OCI layout:
/// its first `keep` layers, with the config's `diff_ids` and `history` cut to match (empty
/// history steps between them kept), written as an OCI layout at `out` (ref name `base`).
/// Returns the base's manifest digest. This is what `scripts/quickstart` does in Python.
pub fn cut_base_layout(src: &Path, keep: usize, out: &Path) -> String {
    let blob = |d: &str| {
        fs::read(
            src.join("blobs/sha256")
                .join(d.trim_start_matches("sha256:")),
        )
        .unwrap()
    };
    let index: Value = serde_json::from_slice(&fs::read(src.join("index.json")).unwrap()).unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let mut config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap().clone();
    assert!(
        keep <= diff_ids.len(),
        "the image has only {} layers",
        diff_ids.len()
    );
    config["rootfs"]["diff_ids"] = Value::Array(diff_ids[..keep].to_vec());
    if let Some(history) = config.get("history").and_then(Value::as_array).cloned() {
        let mut kept = Vec::new();
        let mut layers = 0;
        for h in history {
            let empty = h.get("empty_layer").and_then(Value::as_bool) == Some(true);
            if !empty && layers == keep {
                break;
            }
            if !empty {
                layers += 1;
            }
            kept.push(h);
        }
        config["history"] = Value::Array(kept);
    }
    let blobs = out.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let layers = manifest["layers"].as_array().unwrap()[..keep].to_vec();
    for l in &layers {
        let d = l["digest"].as_str().unwrap();
        fs::write(blobs.join(d.trim_start_matches("sha256:")), blob(d)).unwrap();
    }
    let (config_digest, config_size) = put_blob(&blobs, &serde_json::to_vec(&config).unwrap());
    manifest["config"]["digest"] = json!(config_digest);
    manifest["config"]["size"] = json!(config_size);
    manifest["layers"] = Value::Array(layers);
    let (digest, size) = put_blob(&blobs, &serde_json::to_vec(&manifest).unwrap());
    let out_index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
        "annotations": {"org.opencontainers.image.ref.name": "base"}}]});
    fs::write(
        out.join("index.json"),
        serde_json::to_vec(&out_index).unwrap(),
    )
    .unwrap();
    fs::write(out.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    digest
}

/// Generates `custody key generate` key pairs `DIR/<who>.key` and `DIR/<who>.pub`.
pub fn generate_keys(dir: &Path, who: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for w in who {
        let prefix = dir.join(w);
        custody(&[
            OsStr::new("key"),
            OsStr::new("generate"),
            OsStr::new("--out"),
            prefix.as_os_str(),
        ])
        .ok(&format!("key generate {w}"));
    }
}
