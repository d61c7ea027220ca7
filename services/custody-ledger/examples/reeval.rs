//! Re-evaluation benchmark for `scripts/bench-reeval`: a PostgreSQL ledger seeded with a
//! fleet of recorded images, modelled the way the ledger stores them, and a batch of new
//! advisories imported against it.
//!
//! ```text
//! reeval seed DATABASE_URL IMAGES      # migrate, then seed the fleet in SQL (server-side)
//! reeval advisories DIR COUNT          # write COUNT synthetic OSV records to DIR
//! reeval import DATABASE_URL DIR       # time custody_ledger::import_path (no delivery)
//! reeval query DATABASE_URL ID         # time the affected-images query of one advisory
//! ```
//!
//! The fleet: 50 Debian 12 base images (10 point-release generations), three layers each with
//! 100 binary packages from a pool of 400 source packages; every app image sits on one base
//! and adds two layers of its own with 25 PyPI or npm packages each (a pool of 2,000 packages
//! in 20 versions), so an image has 350 components of which 300 come from shared base layers,
//! stored once per layer as the ledger stores them (`components` per layer entry, joined to
//! images through `image_layers`). Provenances are signed by one of 100 team keys, each with
//! a registered owner. Rows go straight into the tables (the Merkle tree is not built: this
//! measures the advisory path, not ingest), with their match keys already written, as the
//! keyer leaves them.
//!
//! The advisories are SYNTHETIC (`x_custody-bench-…`): 5% Debian (a source package fixed in
//! some generation, so older bases are affected), the rest PyPI and npm ranges over the pool.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::path::Path;
use std::time::Instant;

use custody_ledger::{AffectedQuery, DbArgs, MigrateArgs, NotifyArgs, NotifyConfig};
use serde_json::json;

const BASES: i64 = 50;
const BASE_LAYERS: i64 = 3;
const BASE_COMPONENTS: i64 = 100;
const SOURCES: i64 = 400;
const GENERATIONS: i64 = 10;
const APP_LAYERS: i64 = 2;
const APP_COMPONENTS: i64 = 25;
const APP_POOL: i64 = 2000;
const APP_VERSIONS: i64 = 20;
const TEAMS: i64 = 100;

fn deb_version(source: i64, generation: i64) -> String {
    format!("1.{}.0-{}+deb12u{generation}", source % 13, 1 + source % 3)
}

async fn open(url: &str) -> custody_ledger::Opened {
    let dir = tempfile::tempdir().unwrap();
    custody_ledger::open(&MigrateArgs {
        db: DbArgs {
            data_dir: dir.path().to_owned(),
            database_url: Some(url.to_owned()),
            db_connections: 8,
        },
        origin: Some("bench/reeval".into()),
    })
    .await
    .unwrap()
}

async fn exec(pool: &sqlx::PgPool, what: &str, sql: &str) {
    let t = Instant::now();
    let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .rows_affected();
    eprintln!("  {what}: {n} rows in {:.1}s", t.elapsed().as_secs_f64());
}

async fn seed(url: &str, images: i64) {
    let opened = open(url).await;
    let custody_ledger::Db::Postgres(pool) = &opened.db else {
        panic!("the benchmark seeds PostgreSQL");
    };
    let started = Instant::now();
    let now = jiff::Timestamp::now().as_millisecond();
    // Entry numbers: base layers, base provenances, app layers, app provenances.
    let base_layers = BASES * BASE_LAYERS;
    let base_prov0 = base_layers;
    let app0 = base_prov0 + BASES;
    let prov0 = app0 + images * APP_LAYERS;
    let total = prov0 + images;
    let d = |s: &str| format!("'sha256:' || encode(sha256(convert_to({s}, 'UTF8')), 'hex')");
    exec(pool, "entries", &format!(
        "INSERT INTO entries (idx, leaf_hash, canonical, payload_type, predicate_type, kind, integrated_at) \
         SELECT g, sha256(int8send(g)), '\\x'::bytea, 'application/vnd.in-toto+json', \
           CASE WHEN g < {base_prov0} OR (g >= {app0} AND g < {prov0}) THEN 'https://custody.dev/attestation/layer/v1' \
                ELSE 'https://slsa.dev/provenance/v1' END, \
           CASE WHEN g < {base_prov0} OR (g >= {app0} AND g < {prov0}) THEN 'layer' ELSE 'provenance' END, {now} \
         FROM generate_series(0, {total} - 1) g"
    )).await;
    // Base layers: layer l of base b holds a window of 100 source packages (shifted per base),
    // at the versions of the base's generation.
    let src = "(l * 100 + k + b * 37) % 400";
    exec(pool, "base layer components", &format!(
        "INSERT INTO components (entry_idx, purl, purl_type, namespace, name, version, layer, image, \
           vuln_ecosystem, vuln_release, vuln_name, vuln_version, vuln_note) \
         SELECT b * {BASE_LAYERS} + l, \
           'pkg:deb/debian/bin-src' || s || '@' || v || '?arch=amd64&distro=debian-12&upstream=src' || s, \
           'deb', 'debian', 'bin-src' || s, v, {layer}, '', 'Debian', '12', 'src' || s, v, '' \
         FROM generate_series(0, {BASES} - 1) b, generate_series(0, {BASE_LAYERS} - 1) l, \
              generate_series(0, {BASE_COMPONENTS} - 1) k, \
              LATERAL (SELECT {src} AS s) x, \
              LATERAL (SELECT '1.' || (x.s % 13) || '.0-' || (1 + x.s % 3) || '+deb12u' || (b % {GENERATIONS}) AS v) y",
        layer = d("'base-' || b || '-' || l"),
    )).await;
    // App layers: 25 packages each, PyPI or npm, pseudo-random over the pool.
    let pick = "abs(hashint8(i * 1000 + l * 100 + k))";
    exec(pool, "app layer components", &format!(
        "INSERT INTO components (entry_idx, purl, purl_type, namespace, name, version, layer, image, \
           vuln_ecosystem, vuln_release, vuln_name, vuln_version, vuln_note) \
         SELECT {app0} + i * {APP_LAYERS} + l, \
           'pkg:' || t || '/app-' || p || '@' || v, t, '', 'app-' || p, v, {layer}, '', \
           CASE WHEN t = 'pypi' THEN 'PyPI' ELSE 'npm' END, '', 'app-' || p, v, '' \
         FROM generate_series(0, {images} - 1) i, generate_series(0, {APP_LAYERS} - 1) l, \
              generate_series(0, {APP_COMPONENTS} - 1) k, \
              LATERAL (SELECT {pick} % {APP_POOL} AS p, ({pick} / {APP_POOL}) % {APP_VERSIONS} AS n) x, \
              LATERAL (SELECT CASE WHEN x.p % 2 = 0 THEN 'pypi' ELSE 'npm' END AS t, \
                              '1.' || x.n || '.0' AS v) y",
        layer = d("'app-' || i || '-' || l"),
    )).await;
    // Images: base images list their three layers; app images the base's and their own two.
    exec(
        pool,
        "image_layers (bases)",
        &format!(
            "INSERT INTO image_layers (diff_id, image, position, entry_idx) \
         SELECT {layer}, {image}, l, {base_prov0} + b \
         FROM generate_series(0, {BASES} - 1) b, generate_series(0, {BASE_LAYERS} - 1) l",
            layer = d("'base-' || b || '-' || l"),
            image = d("'base-image-' || b"),
        ),
    )
    .await;
    exec(pool, "image_layers (apps)", &format!(
        "INSERT INTO image_layers (diff_id, image, position, entry_idx) \
         SELECT CASE WHEN l < {BASE_LAYERS} THEN {base_layer} ELSE {app_layer} END, {image}, l, {prov0} + i \
         FROM generate_series(0, {images} - 1) i, generate_series(0, {BASE_LAYERS} + {APP_LAYERS} - 1) l",
        base_layer = d(&format!("'base-' || ((i * 7919) % {BASES}) || '-' || l")),
        app_layer = d(&format!("'app-' || i || '-' || (l - {BASE_LAYERS})")),
        image = d("'image-' || i"),
    )).await;
    exec(
        pool,
        "signers",
        &format!(
            "INSERT INTO signers (key_id, role, algorithm, public_key_pem, comment, created_at) \
         SELECT encode(sha256(convert_to('team-' || t, 'UTF8')), 'hex'), 'builder', 'ed25519', \
           'bench key (not a real key)', 'bench', {now} FROM generate_series(0, {TEAMS} - 1) t"
        ),
    )
    .await;
    exec(pool, "signer_owners", &format!(
        "INSERT INTO signer_owners (key_id, owner, updated_at) \
         SELECT encode(sha256(convert_to('team-' || t, 'UTF8')), 'hex'), 'team-' || t || '@example.com', {now} \
         FROM generate_series(0, {TEAMS} - 1) t"
    )).await;
    exec(pool, "provenance subjects", &format!(
        "INSERT INTO entry_subjects (digest, entry_idx, name) \
         SELECT {image}, {prov0} + i, 'example/app-' || i FROM generate_series(0, {images} - 1) i \
         UNION ALL SELECT {base}, {base_prov0} + b, 'example/base-' || b FROM generate_series(0, {BASES} - 1) b",
        image = d("'image-' || i"),
        base = d("'base-image-' || b"),
    )).await;
    exec(pool, "provenance signers", &format!(
        "INSERT INTO entry_signers (key_id, entry_idx, role) \
         SELECT encode(sha256(convert_to('team-' || (i % {TEAMS}), 'UTF8')), 'hex'), {prov0} + i, 'builder' \
         FROM generate_series(0, {images} - 1) i"
    )).await;
    // The log holds every seeded entry (imports evaluate what lies below the log size).
    exec(
        pool,
        "tree_head",
        &format!("UPDATE tree_head SET tree_size = {total} WHERE id = 1"),
    )
    .await;
    exec(pool, "analyze", "VACUUM ANALYZE").await;
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM components")
        .fetch_one(pool)
        .await
        .unwrap();
    println!(
        "seeded {images} images on {BASES} bases ({rows} component rows, {} per image) in {:.1}s",
        BASE_LAYERS * BASE_COMPONENTS + APP_LAYERS * APP_COMPONENTS,
        started.elapsed().as_secs_f64()
    );
}

fn advisories(dir: &Path, count: i64) {
    std::fs::create_dir_all(dir).unwrap();
    let debian = (count / 20).max(1);
    for j in 0..count {
        let (eco, name, events) = if j < debian {
            let s = (j * 7) % SOURCES;
            let fixed_in = 1 + j % (GENERATIONS - 1);
            (
                "Debian:12".to_owned(),
                format!("src{s}"),
                json!([{"introduced": "0"}, {"fixed": deb_version(s, fixed_in)}]),
            )
        } else {
            let p = (j * 13 + 5) % APP_POOL;
            let eco = if p % 2 == 0 { "PyPI" } else { "npm" };
            let fixed = 1 + j % (APP_VERSIONS - 1);
            (
                eco.to_owned(),
                format!("app-{p}"),
                json!([{"introduced": "0"}, {"fixed": format!("1.{fixed}.0")}]),
            )
        };
        let id = format!("x_custody-bench-{j:05}");
        let record = json!({
            "schema_version": "1.6.0",
            "id": id,
            "modified": "2026-03-01T00:00:00Z",
            "published": "2026-03-01T00:00:00Z",
            "summary": "SYNTHETIC benchmark advisory",
            "aliases": [format!("CVE-2099-{}", 10000 + j)],
            "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
            "affected": [{"package": {"ecosystem": eco, "name": name},
                          "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        });
        std::fs::write(
            dir.join(format!("{id}.json")),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
    }
    println!(
        "wrote {count} advisories ({debian} Debian) to {}",
        dir.display()
    );
}

async fn import(url: &str, dir: &Path) {
    let opened = open(url).await;
    // A channel is configured so that the messages are built and written to the outbox
    // (part of the import); they are not delivered here.
    let notify = NotifyConfig::try_from(&NotifyArgs {
        webhooks: vec!["http://127.0.0.1:9/unused".into()],
        webhook_secret: Some("bench".into()),
        timeout_secs: 1,
        attempts: 1,
        ..NotifyArgs::default()
    })
    .unwrap();
    let t = Instant::now();
    let r = custody_ledger::import_path(
        &opened.db,
        "bench/reeval",
        &notify,
        dir,
        custody_ledger::ReadLimits::default(),
    )
    .await
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "import of {} records: {secs:.2}s (new {}, updated {}, unchanged {}); affected (package, version) pairs {}; \
         newly affected: {} images, {} advisory/image pairs; {} messages queued",
        r.records_read,
        r.new,
        r.updated,
        r.unchanged,
        r.affected_packages,
        r.newly_affected_images,
        r.newly_affected_pairs,
        r.notifications
    );
}

async fn query(url: &str, id: &str) {
    let opened = open(url).await;
    let q = AffectedQuery::Advisory(id.to_owned());
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let page = custody_ledger::affected_page(&opened.db, &q, None, 1000)
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        n = page.affected.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "affected query {id}: first page {n} images; median {:.1} ms (min {:.1}, max {:.1}) over 5",
        times[2], times[0], times[4]
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("seed") => seed(&args[2], args[3].parse().unwrap()).await,
        Some("advisories") => advisories(Path::new(&args[2]), args[3].parse().unwrap()),
        Some("import") => import(&args[2], Path::new(&args[3])).await,
        Some("query") => query(&args[2], &args[3]).await,
        _ => {
            eprintln!(
                "usage: reeval seed URL IMAGES | advisories DIR COUNT | import URL DIR | query URL ID"
            );
            std::process::exit(2);
        }
    }
}
