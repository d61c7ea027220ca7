//! `custody query`: the auditors' questions to a ledger — which images contain a package,
//! what was recorded about a digest or by a key, and an image's whole chain of custody.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::Value;

use crate::output::{Outcome, write_stdout};
use crate::submit::{base_url, client, read_json};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    Table,
    /// The ledger's JSON answer.
    Json,
}

/// Arguments of `custody query`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("question").required(true).args(["purl", "subject", "signer", "image", "advisory", "advisories_since"])))]
pub(crate) struct Args {
    /// Base URL of the ledger.
    #[arg(long, env = "CUSTODY_LEDGER_URL")]
    ledger: String,
    /// Token (needed when the ledger restricts reads to auditors).
    #[arg(long, env = "CUSTODY_LEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Extra CA certificate (PEM) to trust for an https ledger.
    #[arg(long, env = "CUSTODY_LEDGER_CA")]
    ca_cert: Option<PathBuf>,
    /// Images containing this package (purl; without a version: any version, or --versions).
    #[arg(long)]
    purl: Option<String>,
    /// Version constraints for --purl, e.g. ">=1.1.1, <3.0.7" (the ecosystem's ordering).
    #[arg(long, requires = "purl")]
    versions: Option<String>,
    /// Entries whose subject is this digest.
    #[arg(long)]
    subject: Option<String>,
    /// Entries signed by this key ID.
    #[arg(long)]
    signer: Option<String>,
    /// An image's chain of custody, by manifest digest.
    #[arg(long)]
    image: Option<String>,
    /// Recorded images and layers an imported advisory affects (OSV ID), evaluated from the
    /// SBOMs the ledger holds.
    #[arg(long, value_name = "ID")]
    advisory: Option<String>,
    /// Recorded images affected by the advisories imported since TIME (RFC 3339).
    #[arg(long, value_name = "TIME")]
    advisories_since: Option<String>,
    /// Most results (1..=1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

fn get(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    params: &[(&str, &str)],
) -> anyhow::Result<Value> {
    let mut req = agent.get(url);
    for (k, v) in params {
        req = req.query(*k, *v);
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = req.call().with_context(|| format!("querying {url}"))?;
    read_json("query", resp)
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn short(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 16 => format!("{alg}:{}", &hex[..16]),
        _ if d.len() > 16 && !d.contains(':') => d[..16].to_owned(),
        _ => d.to_owned(),
    }
}

fn entry_line(e: &Value) -> String {
    let signers: Vec<String> = e
        .get("signers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| format!("{}({})", short(&s(x, "key_id")), s(x, "role")))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "{:>8}  {:<10}  {:<25}  {}  {}",
        s(e, "index"),
        s(e, "kind"),
        s(e, "integrated_time"),
        signers.join(","),
        s(e, "predicate_type")
    )
}

fn entries_table(list: &[Value]) -> String {
    let mut out = format!(
        "{:>8}  {:<10}  {:<25}  {}  {}\n",
        "INDEX", "KIND", "TIME", "SIGNERS", "PREDICATE"
    );
    for e in list {
        out.push_str(&entry_line(e));
        out.push('\n');
    }
    out
}

/// The affected-images answer as a table: one line per affected component of each
/// (advisory, image) pair, then the components that could not be evaluated.
fn affected_table(v: &Value) -> String {
    let list = |key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let or_dash = |x: String| if x.is_empty() { "-".to_owned() } else { x };
    let mut t = String::new();
    for a in list("advisories") {
        if let Some(w) = a.get("withdrawn").and_then(Value::as_str) {
            t.push_str(&format!(
                "{} was withdrawn at {w}: it affects nothing\n",
                s(&a, "id")
            ));
        } else if a.get("evaluable") == Some(&Value::Bool(false)) {
            t.push_str(&format!(
                "{} names no ecosystem custody evaluates: unevaluated\n",
                s(&a, "id")
            ));
        }
    }
    t.push_str(&format!(
        "{:<24}  {:<71}  {:>5}  {:<71}  {}  {}  {}  {}\n",
        "ADVISORY", "IMAGE", "LAYER", "DIFFID", "PURL", "INSTALLED", "FIXED", "SEVERITY"
    ));
    for pair in list("affected") {
        for c in pair
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            t.push_str(&format!(
                "{:<24}  {:<71}  {:>5}  {:<71}  {}  {}  {}  {}\n",
                s(&pair, "advisory"),
                s(&pair, "image"),
                or_dash(s(c, "layer_index")),
                or_dash(s(c, "layer")),
                s(c, "purl"),
                s(c, "version"),
                or_dash(s(c, "fixed")),
                or_dash(s(c, "severity"))
            ));
        }
    }
    let undecided = list("unevaluated");
    if !undecided.is_empty() {
        t.push_str("\nnot evaluated (never counted clean):\n");
        for u in undecided {
            t.push_str(&format!(
                "{:<24}  {}  {}  {}: {}\n",
                s(&u, "advisory"),
                or_dash(s(&u, "layer")),
                s(&u, "purl"),
                s(&u, "version"),
                s(&u, "reason")
            ));
        }
    }
    if let Some(c) = v.get("next_cursor").and_then(Value::as_str) {
        t.push_str(&format!(
            "(more results: the ledger's next cursor is {c:?})\n"
        ));
    }
    t
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let base = base_url(&args.ledger)?;
    let agent = client(args.ca_cert.as_deref())?;
    let token = args.token.as_deref();
    let limit = args.limit.to_string();
    let (answer, table) = if let Some(purl) = &args.purl {
        let mut params = vec![("purl", purl.as_str()), ("limit", limit.as_str())];
        if let Some(v) = &args.versions {
            params.push(("versions", v.as_str()));
        }
        let v = get(&agent, &format!("{base}/api/v1/images"), token, &params)?;
        let mut t = format!(
            "{:<71}  {:<71}  {:>8}  {}\n",
            "IMAGE", "LAYER", "ENTRY", "PURL"
        );
        for i in v
            .get("images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            t.push_str(&format!(
                "{:<71}  {:<71}  {:>8}  {}\n",
                s(i, "image"),
                s(i, "layer"),
                s(i, "entry"),
                s(i, "purl")
            ));
        }
        (v, t)
    } else if let Some((key, value)) = args
        .advisory
        .as_deref()
        .map(|a| ("advisory", a))
        .or(args.advisories_since.as_deref().map(|t| ("since", t)))
    {
        let v = get(
            &agent,
            &format!("{base}/api/v1/affected"),
            token,
            &[(key, value), ("limit", limit.as_str())],
        )?;
        (v.clone(), affected_table(&v))
    } else if let Some(digest) = &args.image {
        let v = get(
            &agent,
            &format!("{base}/api/v1/images/{digest}"),
            token,
            &[],
        )?;
        let mut t = format!("image {}\n", s(&v, "digest"));
        for b in v
            .get("base_images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            t.push_str(&format!("base image {}\n", b.as_str().unwrap_or("")));
        }
        t.push_str("\nprovenance:\n");
        let provenance: Vec<Value> = v
            .get("provenance")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        t.push_str(&entries_table(&provenance));
        t.push_str("\nlayers:\n");
        for l in v
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            t.push_str(&format!("  #{} {}\n", s(l, "position"), s(l, "diff_id")));
            let list: Vec<Value> = l
                .get("attestations")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if list.is_empty() {
                t.push_str("    (no layer attestation recorded)\n");
            }
            for e in &list {
                t.push_str(&format!("  {}\n", entry_line(e)));
            }
        }
        for (title, key) in [
            ("scans", "scans"),
            ("reviews", "reviews"),
            ("deploy decisions", "decisions"),
            ("vex", "vex"),
            ("sboms", "sboms"),
            ("other", "other"),
        ] {
            let list: Vec<Value> = v
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !list.is_empty() || matches!(key, "scans" | "reviews" | "decisions") {
                t.push_str(&format!("\n{title}:\n"));
                t.push_str(&entries_table(&list));
            }
        }
        (v, t)
    } else {
        let (k, val) = match (&args.subject, &args.signer) {
            (Some(d), _) => ("subject", d.as_str()),
            (None, Some(k)) => ("signer", k.as_str()),
            _ => anyhow::bail!(
                "give --purl, --subject, --signer, --image, --advisory or --advisories-since"
            ),
        };
        let v = get(
            &agent,
            &format!("{base}/api/v1/search"),
            token,
            &[(k, val), ("limit", limit.as_str())],
        )?;
        let list: Vec<Value> = v
            .get("entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut t = entries_table(&list);
        if let Some(c) = v.get("next_cursor") {
            t.push_str(&format!("(more results from cursor {c})\n"));
        }
        (v, t)
    };
    match args.output {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&answer)?;
            text.push('\n');
            write_stdout(text.as_bytes())?;
        }
        Format::Table => write_stdout(table.as_bytes())?,
    }
    Ok(Outcome::Ok)
}
