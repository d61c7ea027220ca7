//! `custody scan`: match an image's (or an SBOM's) components against OSV advisories and sign
//! the findings as an in-toto vulns v0.1 statement bound to the image manifest digest, the
//! scanned SBOM's digest and the advisory database snapshot.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use custody_attest::{SbomDocument, ScanSubject, bundle_json, sign_statement};
use custody_oci::{Image, ImageRef, OpenOptions, Platform, Selector};
use custody_sbom::{Format, Options, SpecVersion};
use custody_types::{Digest, media_types};
use custody_vuln::cyclonedx::{CycloneDxDocument, read_cyclonedx};
use custody_vuln::{
    AdvisoryDb, PredicateInputs, ScanReport, SeverityLevel, VulnsPredicate, to_sarif,
};

use crate::dsse::EnvelopeFormat;
use crate::key::{SignerArgs, statement_time};
use crate::output::write_atomic;
use crate::output::{Outcome, write_stdout};

/// The scanner URI written in `scanner.uri`.
const SCANNER_URI: &str = "https://github.com/custody-dev/custody";
/// Largest SBOM read from a file.
const MAX_SBOM_BYTES: u64 = 512 << 20;

/// How findings are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputArg {
    /// A table for people.
    Table,
    /// JSON: findings, unevaluated components, digests and counts.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// Arguments of `custody scan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The image (an OCI layout directory, an oci-archive or docker-archive tarball, or
    /// `oci:PATH[:REF]`, ...) or a CycloneDX JSON SBOM file (1.4–1.6, from custody, syft or
    /// trivy).
    target: String,
    /// The OSV advisories: a folder of OSV JSON records and/or osv.dev `all.zip` exports, one
    /// export, or one record.
    #[arg(long, value_name = "OSV_PATH")]
    db: PathBuf,
    /// URI recorded as the database's origin (default: the `--db` path as a file: URI).
    #[arg(long, value_name = "URI")]
    db_uri: Option<String>,
    #[command(flatten)]
    signer: SignerArgs,
    /// Where to write the signed scan statement (atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// How findings are printed on stdout.
    #[arg(long, value_enum, default_value_t = OutputArg::Table)]
    output: OutputArg,
    /// Platform to pick from a multi-platform image (`os/arch[/variant]`).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Image to pick from a layout or archive holding several (`NAME:TAG`, a ref name, or a
    /// manifest digest); with an SBOM, the image name for the statement's subject.
    #[arg(long = "image", value_name = "NAME:TAG")]
    select: Option<String>,
    /// The image manifest digest the scan is about, when scanning an SBOM whose metadata does
    /// not name it.
    #[arg(long, value_name = "sha256:HEX")]
    digest: Option<String>,
    /// Also write the SBOM that was scanned (when scanning an image), so that its digest in
    /// the statement can be checked.
    #[arg(long, value_name = "FILE")]
    sbom_out: Option<PathBuf>,
    /// Exit 1 when a finding is at least this severe (after printing and signing).
    #[arg(long, value_name = "SEVERITY", value_parser = ["low", "medium", "high", "critical"])]
    fail_on: Option<String>,
    /// Exit 1 when a component could not be evaluated.
    #[arg(long)]
    fail_on_unevaluated: bool,
    /// Output form of the signed statement.
    #[arg(long, value_enum, default_value_t = EnvelopeFormat::Envelope)]
    format: EnvelopeFormat,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Print every database warning, not a summary.
    #[arg(short, long)]
    verbose: bool,
}

/// The SBOM scanned and what it belongs to.
struct Scanned {
    /// The SBOM normalized as custody-attest's [`SbomDocument`] normalizes every SBOM it
    /// names by digest (compact JSON, members in their order): its digest is the one a
    /// provenance names for the same document, whatever whitespace the file had.
    sbom: SbomDocument,
    document: CycloneDxDocument,
    manifest: Digest,
    image_name: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    // Load the key first: a wrong key should fail before minutes of work.
    let key = args.signer.load()?;
    let started = statement_time()?;
    let scanned = if looks_like_sbom(Path::new(&args.target)) {
        read_sbom(&args)?
    } else {
        sbom_of_image(&args)?
    };
    let sbom_digest = scanned.sbom.digest().clone();
    if let Some(path) = &args.sbom_out {
        write_atomic(path, scanned.sbom.bytes(), Some(0o644), args.force)?;
    }

    let db = AdvisoryDb::load(&args.db)
        .with_context(|| format!("loading advisories from {}", args.db.display()))?;
    let report = db.scan(&scanned.document);
    print_db_warnings(&db, args.verbose);
    let finished = statement_time()?;

    let db_uri = match &args.db_uri {
        Some(u) => u.clone(),
        None => file_uri(&args.db),
    };
    let predicate = VulnsPredicate::new(
        &report,
        &PredicateInputs {
            scanner_uri: SCANNER_URI,
            scanner_version: env!("CARGO_PKG_VERSION"),
            db_uri: Some(&db_uri),
            snapshot: db.snapshot(),
            sbom_digest: sbom_digest.clone(),
            sbom_media_type: media_types::CYCLONEDX_JSON,
            started,
            finished,
        },
    );
    let statement = ScanSubject {
        manifest: scanned.manifest.clone(),
        image_name: scanned.image_name.clone(),
        sbom: Some(sbom_digest.clone()),
    }
    .statement(predicate.to_json())
    .context("building the scan statement")?;
    let envelope = sign_statement(&statement, &key, args.signer.keyid.into());
    let bytes = match args.format {
        EnvelopeFormat::Envelope => envelope.to_json(),
        EnvelopeFormat::Bundle => bundle_json(&envelope, &key.key_id())?,
    };
    write_atomic(&args.out, &bytes, Some(0o644), args.force)?;

    let stdout = match args.output {
        OutputArg::Table => table(&report, &scanned, &sbom_digest, &db),
        OutputArg::Json => {
            let v = serde_json::json!({
                "image": scanned.manifest.to_string(),
                "sbom": sbom_digest.to_string(),
                "db": {
                    "digest": db.snapshot().digest.to_string(),
                    "lastModified": db.snapshot().last_modified.map(|t| t.to_string()),
                    "records": db.snapshot().records,
                },
                "summary": predicate.custody.as_ref().map(|c| &c.summary),
                "findings": report.findings,
                "unevaluated": report.unevaluated,
                "statement": { "file": args.out.display().to_string(), "digest": envelope.digest().to_string(), "keyId": key.key_id().to_string() },
            });
            let mut b = serde_json::to_vec_pretty(&v)?;
            b.push(b'\n');
            b
        }
        OutputArg::Sarif => {
            let mut b = serde_json::to_vec_pretty(&to_sarif(
                &report,
                env!("CARGO_PKG_VERSION"),
                Some(&args.target),
            ))?;
            b.push(b'\n');
            b
        }
    };
    write_stdout(&stdout)?;
    let _ = writeln!(
        std::io::stderr(),
        "signed scan of {} ({} findings, {} unevaluated) to {} by {}",
        scanned.manifest,
        report.findings.len(),
        report.unevaluated.len(),
        args.out.display(),
        key.key_id()
    );

    let threshold = args
        .fail_on
        .as_deref()
        .and_then(|s| s.parse::<SeverityLevel>().ok());
    let too_severe = threshold.is_some_and(|t| report.max_severity().is_some_and(|m| m >= t));
    if too_severe || (args.fail_on_unevaluated && !report.unevaluated.is_empty()) {
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Ok)
}

/// A file whose first non-blank byte is `{`: a JSON document, so an SBOM rather than an image
/// (layouts are folders, archives are tarballs).
fn looks_like_sbom(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn read_sbom(args: &Args) -> anyhow::Result<Scanned> {
    let path = Path::new(&args.target);
    let file =
        std::fs::File::open(path).with_context(|| format!("opening SBOM {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SBOM_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading SBOM {}", path.display()))?;
    if bytes.len() as u64 > MAX_SBOM_BYTES {
        bail!(
            "SBOM {} is larger than {MAX_SBOM_BYTES} bytes",
            path.display()
        );
    }
    let sbom = SbomDocument::from_json(&bytes, media_types::CYCLONEDX_JSON)
        .with_context(|| format!("reading SBOM {}", path.display()))?;
    let document =
        read_cyclonedx(sbom.bytes()).with_context(|| format!("reading SBOM {}", path.display()))?;
    let manifest = match &args.digest {
        Some(d) => {
            let given: Digest = d.parse().with_context(|| format!("reading --digest {d:?}"))?;
            // An SBOM that names another image must not be bound to this one.
            if let Ok(named) = subject_digest(&document)
                && named != given
            {
                bail!(
                    "SBOM {} describes image {named}, not --digest {given}",
                    path.display()
                );
            }
            given
        }
        None => subject_digest(&document).with_context(|| {
            format!(
                "SBOM {} does not name the image manifest digest it describes\nhint: pass --digest sha256:<manifest digest>",
                path.display()
            )
        })?,
    };
    let image_name = args.select.clone().or_else(|| {
        document
            .subject
            .as_ref()
            .map(|s| s.name.clone())
            .filter(|n| !n.is_empty())
    });
    Ok(Scanned {
        sbom,
        document,
        manifest,
        image_name,
    })
}

/// The manifest digest an SBOM's `metadata.component` names: an OCI purl's version
/// (`pkg:oci/app@sha256%3A…`), trivy's `RepoDigest` property (`name@sha256:…`), or a
/// `version` that is a digest.
fn subject_digest(doc: &CycloneDxDocument) -> anyhow::Result<Digest> {
    let s = doc
        .subject
        .as_ref()
        .context("the SBOM has no metadata.component")?;
    let from_purl = s.purl.as_deref().and_then(|p| {
        let v = p.split_once('@')?.1;
        let v = v.split(['?', '#']).next()?;
        v.replace("%3A", ":")
            .replace("%3a", ":")
            .parse::<Digest>()
            .ok()
    });
    let from_trivy = s
        .property("aquasecurity:trivy:RepoDigest")
        .and_then(|v| v.rsplit_once('@'))
        .and_then(|(_, d)| d.parse::<Digest>().ok());
    let from_version = s.version.as_deref().and_then(|v| v.parse::<Digest>().ok());
    from_purl
        .or(from_trivy)
        .or(from_version)
        .context("metadata.component names no sha256 digest")
}

fn sbom_of_image(args: &Args) -> anyhow::Result<Scanned> {
    let reference: ImageRef = args
        .target
        .parse()
        .with_context(|| format!("reading image reference {:?}\nhint: give an image (OCI layout, oci-archive, docker-archive) or a CycloneDX JSON file", args.target))?;
    let mut open = OpenOptions::default();
    if let Some(p) = &args.platform {
        open.platform = Some(p.parse::<Platform>().context("reading --platform")?);
    }
    if let Some(s) = &args.select {
        open.selector = Some(match s.parse() {
            Ok(digest) => Selector::Digest(digest),
            Err(_) => Selector::RefName(s.clone()),
        });
    }
    let image =
        Image::open(&reference, &open).with_context(|| format!("opening image {}", args.target))?;
    let sboms = custody_sbom::generate(&image, &Options::from_env())
        .with_context(|| format!("cataloging image {}", args.target))?;
    {
        let mut stderr = std::io::stderr().lock();
        for w in &sboms.warnings {
            let _ = writeln!(stderr, "warning: {w}");
        }
    }
    // The same rendering `custody sbom` and `custody attest` produce (deterministic), normalized
    // as `custody attest` normalizes it, so the digest in the statement is the one the
    // provenance names as the image SBOM.
    let sbom = SbomDocument::from_json(
        &custody_sbom::render(&sboms.image, Format::CycloneDxJson, SpecVersion::V1_6),
        media_types::CYCLONEDX_JSON,
    )
    .context("reading back the generated SBOM")?;
    let document = read_cyclonedx(sbom.bytes()).context("reading back the generated SBOM")?;
    Ok(Scanned {
        sbom,
        document,
        manifest: image.manifest_digest().clone(),
        image_name: image.name().map(str::to_owned),
    })
}

fn file_uri(path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}

fn print_db_warnings(db: &AdvisoryDb, verbose: bool) {
    let warnings = db.warnings();
    if warnings.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    if verbose {
        for w in &warnings {
            let _ = writeln!(stderr, "warning: {w}");
        }
        return;
    }
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &warnings {
        *by_kind.entry(w.kind.as_str()).or_default() += 1;
    }
    // The ones that matter for this scan first: records the scan looked up and could not use.
    for w in warnings
        .iter()
        .filter(|w| {
            !matches!(
                w.kind.as_str(),
                "duplicate-id" | "ignored-file" | "unsupported-ecosystem"
            )
        })
        .take(10)
    {
        let _ = writeln!(stderr, "warning: {w}");
    }
    let summary: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(
        stderr,
        "warning: advisory database: {} (use --verbose to list them)",
        summary.join(", ")
    );
}

fn short(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}", &hex[..12]),
        _ => d.to_owned(),
    }
}

fn table(report: &ScanReport, scanned: &Scanned, sbom: &Digest, db: &AdvisoryDb) -> Vec<u8> {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |level: Option<SeverityLevel>, text: String| -> String {
        if !color {
            return text;
        }
        let code = match level {
            Some(SeverityLevel::Critical) => "1;31",
            Some(SeverityLevel::High) => "31",
            Some(SeverityLevel::Medium) => "33",
            _ => "0",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let mut rows: Vec<[String; 7]> = vec![
        [
            "SEVERITY", "ID", "PACKAGE", "VERSION", "FIXED", "LAYER", "ALIASES",
        ]
        .map(str::to_owned),
    ];
    for f in &report.findings {
        let name = if f.package.name.eq_ignore_ascii_case(&f.component.name) {
            f.component.name.clone()
        } else {
            format!("{} ({})", f.component.name, f.package.name)
        };
        rows.push([
            f.severity
                .level
                .map_or("unknown", SeverityLevel::as_str)
                .to_owned(),
            f.id.clone(),
            name,
            f.component.version.clone().unwrap_or_default(),
            f.fixed.clone().unwrap_or_else(|| "-".into()),
            f.component
                .layer
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "-".into()),
            f.aliases.join(","),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    out.push_str(&format!(
        "image {}  sbom {}  advisories {} ({} records, newest {})\n",
        scanned.manifest,
        short(&sbom.to_string()),
        short(&db.snapshot().digest.to_string()),
        db.snapshot().records,
        db.snapshot()
            .last_modified
            .map_or("-".to_owned(), |t| t.to_string())
    ));
    if report.findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        for (i, r) in rows.iter().enumerate() {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                if c < 6 {
                    line.push_str(&format!("{cell:<w$}", w = widths[c]));
                } else {
                    line.push_str(cell);
                }
            }
            let level = (i > 0)
                .then(|| report.findings[i - 1].severity.level)
                .flatten();
            out.push_str(&paint(level, line.trim_end().to_owned()));
            out.push('\n');
        }
    }
    let count = |l: SeverityLevel| {
        report
            .findings
            .iter()
            .filter(|f| f.severity.level == Some(l))
            .count()
    };
    out.push_str(&format!(
        "{} findings ({} critical, {} high, {} medium, {} low, {} unknown); {} components evaluated, {} not evaluated\n",
        report.findings.len(),
        count(SeverityLevel::Critical),
        count(SeverityLevel::High),
        count(SeverityLevel::Medium),
        count(SeverityLevel::Low),
        report.unknown_severity(),
        report.evaluated,
        report.unevaluated.len()
    ));
    if !report.unevaluated.is_empty() {
        out.push_str("not evaluated (no finding can be claimed for these):\n");
        for u in &report.unevaluated {
            let reasons: Vec<String> = u
                .reasons
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v["reason"].as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            out.push_str(&format!(
                "  {}: {}\n",
                u.component.purl.as_deref().unwrap_or(&u.component.name),
                reasons.join(", ")
            ));
        }
    }
    out.into_bytes()
}
