//! Re-evaluation from recorded SBOMs, through the real binaries: CI attests the real
//! debian-py-node image (`custody attest`), submits it to a real `custody-ledger serve`
//! (`custody submit`), then `custody-ledger advisories import` loads OSV records and the
//! auditor asks `custody query --advisory ID` and `--advisories-since TIME`. Nothing is
//! rescanned: the answers come from the layer SBOMs the ledger already holds.
//!
//! The records are ../shared/testdata/osv (real ones: none of them affects this image at the
//! versions it holds, e.g. lodash 4.17.21 is past GHSA-jf85-cpcp-j695's 4.17.12 fix, urllib3
//! 2.2.3 past PYSEC-2023-212's 2.0.7) plus SYNTHETIC records (IDs `x_custody-synthetic-…`, the
//! OSV schema's private prefix; not real vulnerabilities) aimed at packages really in the
//! image at their real versions: PyPI urllib3 (layer 2), Debian source glibc (binaries libc6
//! and libc-bin in layer 0), npm lodash (layer 3). The owner of the CI key gets one webhook
//! POST, received here on loopback and checked against its HMAC signature.
//!
//! On SQLite always, on PostgreSQL when CUSTODY_TEST_POSTGRES_URL is set.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use custody_e2e::stack::{Run, Service, custody, generate_keys, run};
use custody_e2e::testdata_or_skip;
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};

/// The image's layer DiffIDs, bottom first (its config's `rootfs.diff_ids`).
const LAYERS: [&str; 4] = [
    "sha256:ebbc6d040472d979acdd12a1a64794a9500ac0f174ab36dd293b714356c67b46",
    "sha256:8c2ea5c0230713241dddb1f3dc5f946600cf983fed1a90f55b9fc3aff5cf9976",
    "sha256:856d45ae089441274d57c692506d7d9e49b5e8126512b0fc74eb160dac7a22c5",
    "sha256:5e4020cf615ca95d226a282a14817ee2decd58135d00e1b43145505225ee098e",
];
const IMAGE: &str = "sha256:d34ff8c8b1eb2725558a9f0797c235d6f1fb6fc60796a534cd8c99a0a748fc41";
const OWNER: &str = "team-web@example.com";
const SECRET: &str = "e2e-webhook-secret";

fn args<'a>(parts: &'a [&'a dyn AsRef<OsStr>]) -> Vec<&'a OsStr> {
    parts.iter().map(|p| p.as_ref()).collect()
}

/// Where the ledger's database is.
enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    fn args(&self) -> Vec<String> {
        match self {
            Store::Sqlite(dir) => vec!["--data-dir".into(), dir.display().to_string()],
            Store::Postgres(url) => vec!["--database-url".into(), url.clone()],
        }
    }
}

/// `custody-ledger ARGS` on `store`.
fn ledger(store: &Store, a: &[&str]) -> Run {
    let mut all: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
    all.extend(store.args());
    run("custody-ledger", &all)
}

fn write_record(dir: &Path, id: &str, affected: Value) {
    let r = json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2026-01-01T00:00:00Z",
        "published": "2026-01-01T00:00:00Z",
        "aliases": [format!("CVE-2099-{}", id.len())],
        "summary": "SYNTHETIC test advisory",
        "affected": affected,
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
    });
    fs::write(
        dir.join(format!("{id}.json")),
        serde_json::to_vec(&r).unwrap(),
    )
    .unwrap();
}

fn range(eco: &str, name: &str, events: Value) -> Value {
    json!([{"package": {"ecosystem": eco, "name": name}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}])
}

/// The real records plus the synthetic ones that hit the image.
fn database(data: &Path, dir: &Path) {
    copy_dir(&data.join("osv"), dir);
    write_record(
        dir,
        "x_custody-synthetic-urllib3",
        range(
            "PyPI",
            "urllib3",
            json!([{"introduced": "0"}, {"fixed": "2.2.4"}]),
        ),
    );
    write_record(
        dir,
        "x_custody-synthetic-glibc",
        range(
            "Debian:12",
            "glibc",
            json!([{"introduced": "0"}, {"fixed": "2.36-9+deb12u15"}]),
        ),
    );
    write_record(
        dir,
        "x_custody-synthetic-lodash",
        range(
            "npm",
            "lodash",
            json!([{"introduced": "4.17.0"}, {"fixed": "4.17.22"}]),
        ),
    );
    // Aimed at the image's packages, but at versions it does not hold.
    write_record(
        dir,
        "x_custody-synthetic-urllib3-old",
        range(
            "PyPI",
            "urllib3",
            json!([{"introduced": "0"}, {"fixed": "2.2.3"}]),
        ),
    );
    write_record(
        dir,
        "x_custody-synthetic-glibc-debian11",
        range("Debian:11", "glibc", json!([{"introduced": "0"}])),
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// One request the loopback webhook receiver accepted.
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 receiver on a free loopback port: answers 200 to every POST and passes
/// each request on. Returns its URL and the channel.
fn webhook_receiver() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/custody", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
            let mut rd = BufReader::new(sock.try_clone().unwrap());
            let mut line = String::new();
            if rd.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let mut headers = Vec::new();
            loop {
                line.clear();
                if rd.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if rd.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send(Received {
                path,
                headers,
                body,
            });
        }
    });
    (url, rx)
}

fn hmac_hex(secret: &[u8], t: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2_011::Sha256>::new_from_slice(secret).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `custody query --advisory ID` (or `--advisories-since`) as JSON.
fn query(url: &str, flag: &str, value: &str) -> Value {
    let out = custody(&[
        "query", "--ledger", url, flag, value, "--output", "json", "--limit", "1000",
    ]);
    serde_json::from_str(out.ok(&format!("query {flag} {value}"))).unwrap()
}

/// (advisory, image, layer DiffID, layer index, purl without qualifiers, version, fixed).
type Row = (String, String, String, u64, String, String, String);

fn rows(page: &Value) -> BTreeSet<Row> {
    let mut out = BTreeSet::new();
    for pair in page["affected"].as_array().unwrap() {
        for c in pair["components"].as_array().unwrap() {
            out.insert((
                pair["advisory"].as_str().unwrap().to_owned(),
                pair["image"].as_str().unwrap().to_owned(),
                c["layer"].as_str().unwrap().to_owned(),
                c["layer_index"].as_u64().unwrap(),
                c["purl"]
                    .as_str()
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap()
                    .to_owned(),
                c["version"].as_str().unwrap().to_owned(),
                c["fixed"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

fn row(adv: &str, layer: usize, purl: &str, version: &str, fixed: &str) -> Row {
    (
        adv.to_owned(),
        IMAGE.to_owned(),
        LAYERS[layer].to_owned(),
        layer as u64,
        purl.to_owned(),
        version.to_owned(),
        fixed.to_owned(),
    )
}

fn expected() -> BTreeSet<Row> {
    [
        row(
            "x_custody-synthetic-glibc",
            0,
            "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u14",
            "2.36-9+deb12u14",
            "2.36-9+deb12u15",
        ),
        row(
            "x_custody-synthetic-glibc",
            0,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14",
            "2.36-9+deb12u14",
            "2.36-9+deb12u15",
        ),
        row(
            "x_custody-synthetic-lodash",
            3,
            "pkg:npm/lodash@4.17.21",
            "4.17.21",
            "4.17.22",
        ),
        row(
            "x_custody-synthetic-urllib3",
            2,
            "pkg:pypi/urllib3@2.2.3",
            "2.2.3",
            "2.2.4",
        ),
    ]
    .into_iter()
    .collect()
}

fn scenario(data: &Path, dir: &Path, store: &Store) {
    let image = data.join("images/debian-py-node/oci");
    let keys = dir.join("keys");
    generate_keys(&keys, &["ci"]);

    ledger(store, &["migrate", "--origin", "custody.e2e/advisories"]).ok("migrate");
    ledger(
        store,
        &[
            "signer",
            "add",
            keys.join("ci.pub").to_str().unwrap(),
            "--role",
            "builder",
            "--owner",
            OWNER,
        ],
    )
    .ok("signer add");
    let token = ledger(store, &["token", "create", "--role", "writer"]);
    let token = token.ok("token").lines().last().unwrap().trim().to_owned();

    let mut serve_args = vec![
        "serve".to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--rate-limit".into(),
        "0".into(),
    ];
    serve_args.extend(store.args());
    let mut server = Service::start("custody-ledger", &serve_args, &dir.join("ledger.log"));
    let url = server.url.clone();

    // CI attests the real image (every layer, its provenance) and submits it.
    let att = dir.join("att");
    custody(&args(&[
        &"attest",
        &image,
        &"--key",
        &keys.join("ci.key"),
        &"--out",
        &att,
    ]))
    .ok("attest");
    custody(&args(&[
        &"submit",
        &att,
        &"--ledger",
        &url,
        &"--token",
        &token,
    ]))
    .ok("submit");

    // Before any import: no advisory is known.
    let before = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap()
        .to_string();
    let unknown = custody(&[
        "query",
        "--ledger",
        &url,
        "--advisory",
        "x_custody-synthetic-urllib3",
        "--output",
        "json",
    ]);
    assert_ne!(unknown.code, 0, "an unknown advisory: {}", unknown.stdout);

    let db = dir.join("osv");
    database(data, &db);
    let (hook, received) = webhook_receiver();
    let import = ledger(
        store,
        &[
            "advisories",
            "import",
            db.to_str().unwrap(),
            "--notify-webhook",
            &hook,
            "--notify-webhook-secret",
            SECRET,
            "--notify-attempts",
            "1",
            "--json",
        ],
    );
    let report: Value = serde_json::from_str(import.ok("advisories import")).unwrap();
    assert_eq!(report["newly_affected_images"], 1, "{report:#}");
    assert_eq!(report["newly_affected_pairs"], 3, "{report:#}");
    assert_eq!(report["notifications"], 1, "{report:#}");
    assert!(report["new"].as_u64().unwrap() >= 5, "{report:#}");
    // The schema-invalid linter fixture is reported, not imported.
    assert!(report["invalid"].as_u64().unwrap() >= 1, "{report:#}");

    // The one owner's webhook message: signed, and listing exactly the findings.
    let msg = received
        .recv_timeout(Duration::from_secs(30))
        .expect("no webhook request arrived");
    assert_eq!(msg.path, "/hooks/custody");
    assert_eq!(msg.header("x-custody-event"), Some("advisories.affected"));
    let sig = msg.header("x-custody-signature").unwrap();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    assert_eq!(v1, hmac_hex(SECRET.as_bytes(), t, &msg.body), "signature");
    let notice: Value = serde_json::from_slice(&msg.body).unwrap();
    assert_eq!(notice["event"], "advisories.affected");
    assert_eq!(notice["owner"], OWNER);
    assert_eq!(notice["totals"]["images"], 1);
    assert_eq!(notice["totals"]["pairs"], 3);
    assert_eq!(notice["images"].as_array().unwrap().len(), 1);
    assert_eq!(notice["images"][0]["image"], IMAGE);
    let mut notified: BTreeSet<Row> = BTreeSet::new();
    for f in notice["images"][0]["findings"].as_array().unwrap() {
        notified.insert((
            f["advisory"].as_str().unwrap().to_owned(),
            IMAGE.to_owned(),
            f["layer"].as_str().unwrap().to_owned(),
            f["layer_index"].as_u64().unwrap(),
            f["purl"]
                .as_str()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_owned(),
            f["version"].as_str().unwrap().to_owned(),
            f["fixed"].as_str().unwrap_or("").to_owned(),
        ));
    }
    assert_eq!(notified, expected());
    assert!(
        received.recv_timeout(Duration::from_millis(500)).is_err(),
        "one message per owner"
    );

    // The auditor's questions, answered from the recorded SBOMs.
    let page = query(&url, "--advisory", "x_custody-synthetic-glibc");
    let want: BTreeSet<Row> = expected()
        .into_iter()
        .filter(|r| r.0 == "x_custody-synthetic-glibc")
        .collect();
    assert_eq!(rows(&page), want, "{page:#}");
    let page = query(&url, "--advisory", "x_custody-synthetic-urllib3");
    assert_eq!(rows(&page).len(), 1, "{page:#}");
    assert!(rows(&page).is_subset(&expected()), "{page:#}");
    // Records that name the image's packages at other versions or releases, and the real
    // records: known, but affecting nothing recorded.
    for id in [
        "x_custody-synthetic-urllib3-old",
        "x_custody-synthetic-glibc-debian11",
        "GHSA-jf85-cpcp-j695",
        "PYSEC-2023-212",
        "PYSEC-2023-74",
    ] {
        let page = query(&url, "--advisory", id);
        assert_eq!(page["advisories"][0]["id"], id, "{page:#}");
        assert!(rows(&page).is_empty(), "{id}: {page:#}");
    }
    let since = query(&url, "--advisories-since", &before);
    assert_eq!(rows(&since), expected(), "{since:#}");
    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap()
        .to_string();
    let none = query(&url, "--advisories-since", &later);
    assert!(rows(&none).is_empty(), "{none:#}");

    // The table form names the image, the layer and the fix as well.
    let table = custody(&[
        "query",
        "--ledger",
        &url,
        "--advisory",
        "x_custody-synthetic-lodash",
    ]);
    let text = table.ok("query table");
    for want in [IMAGE, LAYERS[3], "4.17.21", "4.17.22"] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }

    // Importing the same records again makes nobody newly affected, so nobody is told.
    let again = ledger(
        store,
        &[
            "advisories",
            "import",
            db.to_str().unwrap(),
            "--notify-webhook",
            &hook,
            "--notify-webhook-secret",
            SECRET,
            "--json",
        ],
    );
    let report: Value = serde_json::from_str(again.ok("import again")).unwrap();
    assert_eq!(report["new"], 0, "{report:#}");
    assert_eq!(report["newly_affected_pairs"], 0, "{report:#}");
    assert_eq!(report["notifications"], 0, "{report:#}");
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err());
    server.stop();
}

#[test]
fn imported_advisories_are_answered_from_recorded_sboms_on_sqlite() {
    let data = testdata_or_skip!();
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::Sqlite(tmp.path().join("ledger"));
    scenario(&data, tmp.path(), &store);
}

#[test]
fn imported_advisories_are_answered_from_recorded_sboms_on_postgres() {
    let data = testdata_or_skip!();
    let Some(admin_url) = custody_testkit::postgres_url(module_path!()) else {
        return;
    };
    let name = format!("advisories_e2e_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let exec = |sql: String| {
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        });
    };
    exec(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    exec(format!("CREATE DATABASE \"{name}\""));
    let base = &admin_url[..admin_url.rfind('/').unwrap()];
    let store = Store::Postgres(format!("{base}/{name}"));
    let tmp = tempfile::tempdir().unwrap();
    scenario(&data, tmp.path(), &store);
    exec(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
}
