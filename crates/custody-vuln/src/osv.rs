//! OSV records: parsed, checked against the rules of the OSV schema that matching relies
//! on, and evaluated with the schema's own algorithm.
//!
//! What is checked (a failure skips the record with a warning): `id` and `modified`
//! present, timestamps RFC 3339, every `affected[].package` with a known ecosystem and a
//! name, every range of type `ECOSYSTEM`, `SEMVER` or `GIT` with at least one event and
//! an `introduced`, each event exactly one of `introduced`/`fixed`/`last_affected`/`limit`,
//! `fixed` and `last_affected` never in one range, `GIT` ranges with a `repo` and full
//! commit hashes. Descriptive fields are not checked beyond their JSON type, and fields the
//! schema does not know are ignored rather than fatal: a newer schema version must not make
//! a vulnerability disappear. A severity entry custody cannot read is dropped with a
//! warning, for the same reason.
//!
//! Evaluation follows the schema's `IsVulnerable` pseudo-code: a version is affected if it
//! is listed in `versions` or lies in a range; within a range, walking the events in version
//! order, `introduced <= v` turns "affected" on and `fixed <= v` / `last_affected < v`
//! turn it off; a range with `limit` events applies only below one of them. The walk's
//! outcome is that of the greatest event that fires, which is how it is computed here: one
//! pass, no sort, so an ordering that is not transitive on degenerate input (Maven's) can
//! never make a sort panic. Events at equal versions order `introduced` first.

use std::cmp::Ordering;

use std::borrow::Cow;

use jiff::Timestamp;
use serde::Deserialize;

use crate::ecosystem::{OsvEcosystem, PackageKey, parse_osv_ecosystem};
use crate::severity::{Severity, SeverityEntry, entry_is_readable};
use crate::version::{Version, VersionScheme};
use crate::warning::{Warning, WarningKind};

// ---------------------------------------------------------------------------------------
// Wire model: only the fields matching reads; serde skips the rest (details, references).

#[derive(Deserialize)]
struct WireRecord<'a> {
    id: Option<String>,
    modified: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
    aliases: Option<Vec<String>>,
    summary: Option<String>,
    severity: Option<Vec<WireSeverity>>,
    #[serde(borrow)]
    affected: Option<Vec<WireAffected<'a>>>,
    database_specific: Option<WireSpecific>,
}

#[derive(Deserialize)]
struct WireSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Deserialize)]
struct WireAffected<'a> {
    package: Option<WirePackage>,
    severity: Option<Vec<WireSeverity>>,
    #[serde(borrow)]
    ranges: Option<Vec<WireRange<'a>>>,
    versions: Option<Vec<String>>,
    ecosystem_specific: Option<WireSpecific>,
    database_specific: Option<WireSpecific>,
}

#[derive(Deserialize)]
struct WirePackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct WireRange<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    repo: Option<Cow<'a, str>>,
    #[serde(borrow)]
    events: Vec<WireEvent<'a>>,
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(borrow)]
    introduced: Option<Cow<'a, str>>,
    #[serde(borrow)]
    fixed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_affected: Option<Cow<'a, str>>,
    #[serde(borrow)]
    limit: Option<Cow<'a, str>>,
}

/// The parts of `database_specific` / `ecosystem_specific` objects custody reads.
#[derive(Deserialize)]
struct WireSpecific {
    severity: Option<serde_json::Value>,
    urgency: Option<serde_json::Value>,
}

impl WireSpecific {
    fn text(v: &Option<serde_json::Value>) -> Option<String> {
        v.as_ref().and_then(|v| v.as_str()).map(str::to_owned)
    }
}

// ---------------------------------------------------------------------------------------
// Checked model.

/// An OSV record, checked, with every range parsed under its ecosystem's version scheme.
#[derive(Debug, Clone)]
pub struct Advisory {
    /// The record's ID (`GHSA-…`, `PYSEC-…`, `DSA-…`, `CVE-…`).
    pub id: String,
    /// When the record was last modified.
    pub modified: Timestamp,
    /// When it was published, if stated.
    pub published: Option<Timestamp>,
    /// When it was withdrawn; withdrawn records never match.
    pub withdrawn: Option<Timestamp>,
    /// Other IDs of the same vulnerability.
    pub aliases: Vec<String>,
    /// The one-line summary, if any.
    pub summary: Option<String>,
    /// The record-level `severity[]` entries.
    pub severity: Vec<SeverityEntry>,
    /// `database_specific.severity` (GHSA's rating), if a string.
    pub database_severity: Option<String>,
    /// The affected packages of supported ecosystems, in record order.
    pub affected: Vec<AffectedPackage>,
    /// SHA-256 of the record's bytes, as read.
    pub record_sha256: [u8; 32],
}

/// One `affected[]` entry of a supported ecosystem.
#[derive(Debug, Clone)]
pub struct AffectedPackage {
    /// Ecosystem, release and normalised name.
    pub key: PackageKey,
    /// The package name as the record spells it.
    pub name: String,
    /// The ecosystem string as the record spells it (`Debian:12`).
    pub ecosystem: String,
    ranges: Vec<Range>,
    versions: Vec<String>,
    /// Why some of this entry could not be evaluated (unparseable bounds, GIT-only ranges).
    /// A component this entry does not otherwise find affected is then unevaluated rather
    /// than clean.
    pub incomplete: Vec<String>,
    /// The entry's own `severity[]` (the schema allows it instead of the record's).
    pub severity: Vec<SeverityEntry>,
    /// `database_specific.severity` of the entry, if a string.
    pub database_severity: Option<String>,
    /// Debian's urgency (`ecosystem_specific.urgency` or `database_specific.urgency`).
    pub urgency: Option<String>,
}

#[derive(Debug, Clone)]
struct Range {
    events: Vec<Event>,
    limits: Vec<Limit>,
}

#[derive(Debug, Clone)]
enum Event {
    Introduced(Option<Version>),
    Fixed(Version),
    LastAffected(Version),
}

#[derive(Debug, Clone)]
enum Limit {
    Infinity,
    Below(Version),
}

/// The outcome of evaluating one affected entry for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The version is affected; `fixed` is the lowest `fixed` event above it, if any.
    Affected {
        /// The version that fixes it, if the record names one.
        fixed: Option<String>,
    },
    /// The version is not affected.
    NotAffected,
    /// No evaluable part of the entry affects the version, but part of the entry could not
    /// be evaluated; the reasons say which.
    Indeterminate(Vec<String>),
}

/// A record that was read but not kept.
#[derive(Debug, Clone)]
pub enum Rejection {
    /// The record is withdrawn: checked, but kept out of matching by design.
    Withdrawn(Box<Advisory>),
    /// The record is broken; the warning says how.
    Invalid(Warning),
}

/// Parses and checks one OSV record (the bytes of one JSON file).
///
/// `source` names where the bytes came from, for warnings. On success, returns the advisory
/// and the warnings about parts of it that were dropped (unsupported ecosystems,
/// unparseable ranges, unreadable severities).
pub fn parse_record(bytes: &[u8], source: &str) -> Result<(Advisory, Vec<Warning>), Rejection> {
    let wire: WireRecord<'_> = serde_json::from_slice(bytes).map_err(|e| {
        let kind = if e.is_data() {
            WarningKind::SchemaViolation
        } else {
            WarningKind::InvalidJson
        };
        Rejection::Invalid(Warning {
            source: source.to_owned(),
            id: peek_id(bytes),
            kind,
            message: e.to_string(),
        })
    })?;
    check(wire, source, bytes)
}

/// The `id` of a record that failed to deserialize, best effort, for the warning.
fn peek_id(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_slice::<Id>(bytes).ok().map(|i| i.id)
}

fn is_commit(s: &str) -> bool {
    s == "0"
        || ((s.len() == 40 || s.len() == 64)
            && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn check(
    wire: WireRecord<'_>,
    source: &str,
    bytes: &[u8],
) -> Result<(Advisory, Vec<Warning>), Rejection> {
    let id = wire.id.clone();
    let fail = |message: String| {
        Rejection::Invalid(Warning {
            source: source.to_owned(),
            id: id.clone(),
            kind: WarningKind::SchemaViolation,
            message,
        })
    };
    let id = match wire.id {
        Some(id) if valid_id(&id) => id,
        Some(id) => {
            return Err(fail(format!(
                "id {id:?} is empty, too long or has whitespace"
            )));
        }
        None => return Err(fail("missing required field \"id\"".into())),
    };
    let ts = |field: &str, v: &Option<String>| -> Result<Option<Timestamp>, Rejection> {
        match v {
            None => Ok(None),
            Some(s) => s
                .parse::<Timestamp>()
                .map(Some)
                .map_err(|e| fail(format!("{field} {s:?} is not an RFC 3339 timestamp: {e}"))),
        }
    };
    let modified = ts("modified", &wire.modified)?
        .ok_or_else(|| fail("missing required field \"modified\"".into()))?;
    let published = ts("published", &wire.published)?;
    let withdrawn = ts("withdrawn", &wire.withdrawn)?;

    let mut warnings = Vec::new();
    let warn = |warnings: &mut Vec<Warning>, kind: WarningKind, message: String| {
        warnings.push(Warning {
            source: source.to_owned(),
            id: Some(id.clone()),
            kind,
            message,
        });
    };

    let severity = severity_entries(wire.severity, &mut |m| {
        warn(&mut warnings, WarningKind::UnreadableSeverity, m)
    });
    let mut affected = Vec::new();
    for (ai, a) in wire.affected.unwrap_or_default().into_iter().enumerate() {
        // Structural checks first: they apply whatever the ecosystem.
        check_ranges(ai, a.ranges.as_deref().unwrap_or_default()).map_err(fail)?;
        let Some(package) = a.package else {
            // A package-less entry (GIT ranges of a C project) cannot concern an SBOM component.
            continue;
        };
        let (eco, release) = match parse_osv_ecosystem(&package.ecosystem) {
            Some(OsvEcosystem::Supported(e, r)) => (e, r),
            Some(OsvEcosystem::Unsupported(name)) => {
                warn(
                    &mut warnings,
                    WarningKind::UnsupportedEcosystem,
                    format!(
                        "affected[{ai}] ecosystem {name:?} is not evaluated by custody; entry skipped"
                    ),
                );
                continue;
            }
            None => {
                return Err(fail(format!(
                    "affected[{ai}].package.ecosystem {:?} is not an OSV ecosystem",
                    package.ecosystem
                )));
            }
        };
        if package.name.trim().is_empty() {
            return Err(fail(format!("affected[{ai}].package.name is empty")));
        }
        let scheme = eco.scheme();
        let mut ranges = Vec::new();
        let mut incomplete = Vec::new();
        let versions = a.versions.unwrap_or_default();
        for (ri, r) in a.ranges.into_iter().flatten().enumerate() {
            if r.kind == "GIT" {
                continue;
            }
            match parse_range(scheme, r.events) {
                Ok(range) => ranges.push(range),
                Err(e) => {
                    let reason = format!("affected[{ai}].ranges[{ri}]: {e}");
                    warn(
                        &mut warnings,
                        WarningKind::UnparseableRange,
                        format!("{reason}; range dropped"),
                    );
                    incomplete.push(reason);
                }
            }
        }
        if ranges.is_empty() && versions.is_empty() && incomplete.is_empty() {
            // Only GIT ranges: which package versions they cover needs the repository.
            incomplete.push(format!(
                "affected[{ai}] has only GIT ranges and no versions list"
            ));
        }
        let entry_severity = severity_entries(a.severity, &mut |m| {
            warn(&mut warnings, WarningKind::UnreadableSeverity, m)
        });
        let urgency = a
            .ecosystem_specific
            .as_ref()
            .and_then(|s| WireSpecific::text(&s.urgency))
            .or_else(|| {
                a.database_specific
                    .as_ref()
                    .and_then(|s| WireSpecific::text(&s.urgency))
            });
        affected.push(AffectedPackage {
            key: PackageKey::new(eco, release, &package.name),
            name: package.name,
            ecosystem: package.ecosystem,
            ranges,
            versions,
            incomplete,
            severity: entry_severity,
            database_severity: a
                .database_specific
                .as_ref()
                .and_then(|s| WireSpecific::text(&s.severity)),
            urgency,
        });
    }
    let advisory = Advisory {
        id,
        modified,
        published,
        withdrawn,
        aliases: wire.aliases.unwrap_or_default(),
        summary: wire.summary,
        severity,
        database_severity: wire
            .database_specific
            .as_ref()
            .and_then(|s| WireSpecific::text(&s.severity)),
        affected,
        record_sha256: sha2_256(bytes),
    };
    if advisory.withdrawn.is_some() {
        return Err(Rejection::Withdrawn(Box::new(advisory)));
    }
    Ok((advisory, warnings))
}

/// What a load needs of every record, read without building the advisory: identity, time,
/// withdrawal and the package keys to index. The rest of the record is checked when a scan
/// first needs it ([`parse_record`]).
#[derive(Debug, Clone)]
pub(crate) struct Peek {
    pub(crate) id: String,
    pub(crate) modified: Timestamp,
    pub(crate) withdrawn: bool,
    pub(crate) keys: Vec<PackageKey>,
}

#[derive(Deserialize)]
struct LightRecord<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    modified: Option<Cow<'a, str>>,
    #[serde(borrow)]
    withdrawn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    affected: Option<Vec<LightAffected<'a>>>,
}

#[derive(Deserialize)]
struct LightAffected<'a> {
    #[serde(borrow)]
    package: Option<LightPackage<'a>>,
    #[serde(borrow)]
    ranges: Option<Vec<WireRange<'a>>>,
}

#[derive(Deserialize)]
struct LightPackage<'a> {
    #[serde(borrow)]
    ecosystem: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

/// Reads the parts of a record a load indexes, checking them as [`parse_record`] would.
pub(crate) fn peek_record(bytes: &[u8], source: &str) -> Result<Peek, Warning> {
    let warn = |id: Option<String>, kind, message: String| Warning {
        source: source.to_owned(),
        id,
        kind,
        message,
    };
    let light: LightRecord<'_> = serde_json::from_slice(bytes).map_err(|e| {
        let kind = if e.is_data() {
            WarningKind::SchemaViolation
        } else {
            WarningKind::InvalidJson
        };
        warn(peek_id(bytes), kind, e.to_string())
    })?;
    let id = match light.id {
        Some(id) if valid_id(&id) => id.into_owned(),
        Some(id) => {
            return Err(warn(
                Some(id.to_string()),
                WarningKind::SchemaViolation,
                format!("id {id:?} is empty, too long or has whitespace"),
            ));
        }
        None => {
            return Err(warn(
                None,
                WarningKind::SchemaViolation,
                "missing required field \"id\"".into(),
            ));
        }
    };
    let ts = |field: &str, v: &str| {
        v.parse::<Timestamp>().map_err(|e| {
            warn(
                Some(id.clone()),
                WarningKind::SchemaViolation,
                format!("{field} {v:?} is not an RFC 3339 timestamp: {e}"),
            )
        })
    };
    let modified = match &light.modified {
        Some(m) => ts("modified", m)?,
        None => {
            return Err(warn(
                Some(id.clone()),
                WarningKind::SchemaViolation,
                "missing required field \"modified\"".into(),
            ));
        }
    };
    let withdrawn = match &light.withdrawn {
        Some(w) => ts("withdrawn", w).map(|_| true)?,
        None => false,
    };
    let affected = light.affected.unwrap_or_default();
    // Sized up front: a growing Vec would reserve four keys for the usual one.
    let mut keys = Vec::with_capacity(affected.len());
    for (ai, a) in affected.into_iter().enumerate() {
        check_ranges(ai, a.ranges.as_deref().unwrap_or_default())
            .map_err(|m| warn(Some(id.clone()), WarningKind::SchemaViolation, m))?;
        let Some(p) = a.package else { continue };
        match parse_osv_ecosystem(&p.ecosystem) {
            Some(OsvEcosystem::Supported(e, release)) => {
                if p.name.trim().is_empty() {
                    return Err(warn(
                        Some(id.clone()),
                        WarningKind::SchemaViolation,
                        format!("affected[{ai}].package.name is empty"),
                    ));
                }
                keys.push(PackageKey::new(e, release, &p.name));
            }
            Some(OsvEcosystem::Unsupported(_)) => {}
            None => {
                return Err(warn(
                    Some(id.clone()),
                    WarningKind::SchemaViolation,
                    format!(
                        "affected[{ai}].package.ecosystem {:?} is not an OSV ecosystem",
                        p.ecosystem
                    ),
                ));
            }
        }
    }
    keys.sort();
    keys.dedup();
    Ok(Peek {
        id,
        modified,
        withdrawn,
        keys,
    })
}

/// The OSV schema's structural rules for `affected[ai].ranges`: known type, at least one
/// event and one `introduced`, exactly one key per event, never both `fixed` and
/// `last_affected`, and for `GIT` a `repo` and full commit hashes.
fn check_ranges(ai: usize, ranges: &[WireRange<'_>]) -> Result<(), String> {
    for (ri, r) in ranges.iter().enumerate() {
        // Every record of a database passes here: the location is only formatted for an error.
        let at = || format!("affected[{ai}].ranges[{ri}]");
        if !matches!(&*r.kind, "ECOSYSTEM" | "SEMVER" | "GIT") {
            return Err(format!(
                "{}.type {:?} is not ECOSYSTEM, SEMVER or GIT",
                at(),
                r.kind
            ));
        }
        if r.events.is_empty() {
            return Err(format!("{}.events is empty", at()));
        }
        let (mut has_introduced, mut has_fixed, mut has_last) = (false, false, false);
        for (ei, e) in r.events.iter().enumerate() {
            let mut set = [&e.introduced, &e.fixed, &e.last_affected, &e.limit]
                .into_iter()
                .flatten();
            let (Some(only), None) = (set.next(), set.next()) else {
                return Err(format!(
                    "{}.events[{ei}] must hold exactly one of introduced, fixed, last_affected, limit",
                    at()
                ));
            };
            has_introduced |= e.introduced.is_some();
            has_fixed |= e.fixed.is_some();
            has_last |= e.last_affected.is_some();
            if r.kind == "GIT" && !is_commit(only) {
                return Err(format!(
                    "{}.events[{ei}] {:?} is not a full-length commit hash",
                    at(),
                    only
                ));
            }
        }
        if !has_introduced {
            return Err(format!("{}.events has no introduced event", at()));
        }
        if has_fixed && has_last {
            return Err(format!("{} mixes fixed and last_affected events", at()));
        }
        if r.kind == "GIT" && r.repo.is_none() {
            return Err(format!("{} is a GIT range without a repo", at()));
        }
    }
    Ok(())
}

fn sha2_256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn severity_entries(
    wire: Option<Vec<WireSeverity>>,
    warn: &mut dyn FnMut(String),
) -> Vec<SeverityEntry> {
    let mut out = Vec::new();
    for s in wire.unwrap_or_default() {
        let e = SeverityEntry {
            kind: s.kind,
            score: s.score,
        };
        if entry_is_readable(&e) {
            out.push(e);
        } else {
            warn(format!(
                "severity {:?} {:?} cannot be read; ignored",
                e.kind, e.score
            ));
        }
    }
    out
}

fn parse_range(scheme: VersionScheme, events: Vec<WireEvent<'_>>) -> Result<Range, String> {
    let v =
        |s: Cow<'_, str>| Version::parse_owned(scheme, s.into_owned()).map_err(|e| e.to_string());
    let mut out = Range {
        events: Vec::with_capacity(events.len()),
        limits: Vec::new(),
    };
    for e in events {
        if let Some(s) = e.introduced {
            out.events
                .push(Event::Introduced(if s == "0" { None } else { Some(v(s)?) }));
        } else if let Some(s) = e.fixed {
            out.events.push(Event::Fixed(v(s)?));
        } else if let Some(s) = e.last_affected {
            out.events.push(Event::LastAffected(v(s)?));
        } else if let Some(s) = e.limit {
            out.limits.push(if s.contains('*') {
                Limit::Infinity
            } else {
                Limit::Below(v(s)?)
            });
        }
    }
    Ok(out)
}

impl Range {
    /// Whether `v` is affected by this range, and the fix above it.
    fn evaluate(&self, v: &Version) -> Option<Option<String>> {
        let below_limits = self.limits.is_empty()
            || self.limits.iter().any(|l| match l {
                Limit::Infinity => true,
                Limit::Below(x) => v < x,
            });
        if !below_limits {
            return None;
        }
        // The walk's final state is set by the greatest event that fires.
        let mut last: Option<&Event> = None;
        for e in &self.events {
            let fires = match e {
                Event::Introduced(None) => true,
                Event::Introduced(Some(x)) | Event::Fixed(x) => v >= x,
                Event::LastAffected(x) => v > x,
            };
            if !fires {
                continue;
            }
            last = match last {
                None => Some(e),
                Some(b) => match event_order(e, b) {
                    Ordering::Greater => Some(e),
                    _ => Some(b),
                },
            };
        }
        if !matches!(last, Some(Event::Introduced(_))) {
            return None;
        }
        let fixed = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Fixed(x) if x > v => Some(x),
                _ => None,
            })
            .fold(None::<&Version>, |m, x| match m {
                Some(m) if m <= x => Some(m),
                _ => Some(x),
            });
        Some(fixed.map(|f| f.as_str().to_owned()))
    }
}

/// The order of two events in the walk: by version (`introduced: "0"` first), and at equal
/// versions `introduced` before `fixed`/`last_affected`, so an empty `[x, x)` stays empty.
fn event_order(a: &Event, b: &Event) -> Ordering {
    fn key(e: &Event) -> (Option<&Version>, u8) {
        match e {
            Event::Introduced(v) => (v.as_ref(), 0),
            Event::Fixed(v) | Event::LastAffected(v) => (Some(v), 1),
        }
    }
    let (av, ak) = key(a);
    let (bv, bk) = key(b);
    av.cmp(&bv).then(ak.cmp(&bk))
}

impl AffectedPackage {
    /// Evaluates `version` (parsed under this entry's ecosystem) against the entry's
    /// `versions` list and ranges.
    pub fn evaluate(&self, version: &Version) -> Verdict {
        let listed = self.versions.iter().any(|s| {
            s == version.as_str()
                || Version::parse(version.scheme(), s).is_ok_and(|p| p == *version)
        });
        let mut hit: Option<Option<String>> = None;
        for r in &self.ranges {
            if let Some(fixed) = r.evaluate(version) {
                // Prefer a range that names a fix.
                if hit.as_ref().is_none_or(|h| h.is_none()) {
                    hit = Some(fixed);
                }
            }
        }
        match (listed, hit) {
            (_, Some(fixed)) => Verdict::Affected { fixed },
            (true, None) => Verdict::Affected { fixed: None },
            (false, None) if !self.incomplete.is_empty() => {
                Verdict::Indeterminate(self.incomplete.clone())
            }
            (false, None) => Verdict::NotAffected,
        }
    }

    /// The entry's severity, falling back to the record's when the entry has none.
    pub fn severity(&self, advisory: &Advisory) -> Severity {
        let entries = if self.severity.is_empty() {
            &advisory.severity
        } else {
            &self.severity
        };
        let rating = self
            .database_severity
            .as_deref()
            .or(advisory.database_severity.as_deref());
        Severity::assess(entries, rating, self.urgency.as_deref())
    }
}

impl Advisory {
    /// The package keys this advisory touches, deduplicated: what the ledger looks up to
    /// find candidate components without evaluating every SBOM.
    pub fn package_keys(&self) -> Vec<PackageKey> {
        let mut keys: Vec<PackageKey> = self.affected.iter().map(|a| a.key.clone()).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The record's ID and aliases.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(affected: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"OSV-TEST-1","modified":"2024-01-01T00:00:00Z","affected":[{affected}]}}"#
        )
        .into_bytes()
    }

    fn eval(affected: &str, version: &str) -> Verdict {
        let (adv, _) = parse_record(&record(affected), "test").unwrap();
        let a = &adv.affected[0];
        let v = Version::parse(a.key.ecosystem.scheme(), version).unwrap();
        a.evaluate(&v)
    }

    const NPM_EQUALS_WITH_PATCH: &str = r#"{"package":{"ecosystem":"npm","name":"mixin-deep"},
        "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"introduced":"2.0.0"},{"fixed":"2.0.1"},{"fixed":"1.3.2"}]}]}"#;

    #[test]
    fn unsorted_events_follow_the_spec_walk() {
        let affected = |v| eval(NPM_EQUALS_WITH_PATCH, v);
        assert_eq!(
            affected("1.3.1"),
            Verdict::Affected {
                fixed: Some("1.3.2".into())
            }
        );
        assert_eq!(affected("1.3.2"), Verdict::NotAffected);
        assert_eq!(affected("1.9.9"), Verdict::NotAffected);
        assert_eq!(
            affected("2.0.0"),
            Verdict::Affected {
                fixed: Some("2.0.1".into())
            }
        );
        assert_eq!(affected("2.0.1"), Verdict::NotAffected);
    }

    #[test]
    fn last_affected_limit_and_versions() {
        let la = r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0"},{"last_affected":"1.4"}]}]}"#;
        assert_eq!(eval(la, "1.4"), Verdict::Affected { fixed: None });
        assert_eq!(eval(la, "1.4.post1"), Verdict::NotAffected);
        assert_eq!(eval(la, "0.9"), Verdict::NotAffected);
        let lim = r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"2.0"}]}]}"#;
        assert_eq!(eval(lim, "1.9"), Verdict::Affected { fixed: None });
        assert_eq!(eval(lim, "2.0"), Verdict::NotAffected);
        let star = r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"*"}]}]}"#;
        assert_eq!(eval(star, "99"), Verdict::Affected { fixed: None });
        let listed = r#"{"package":{"ecosystem":"PyPI","name":"x"},"versions":["1.0","2.0rc1"]}"#;
        assert_eq!(eval(listed, "1.0.0"), Verdict::Affected { fixed: None });
        assert_eq!(eval(listed, "2.0RC1"), Verdict::Affected { fixed: None });
        assert_eq!(eval(listed, "2.0"), Verdict::NotAffected);
        let empty = r#"{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.0.0"}]}]}"#;
        assert_eq!(eval(empty, "1.0.0"), Verdict::NotAffected);
    }

    #[test]
    fn unparseable_range_makes_the_entry_indeterminate() {
        let bad = r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"not a version!"}]}],"versions":["0.5"]}"#;
        let (adv, warnings) = parse_record(&record(bad), "f.json").unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].kind, WarningKind::UnparseableRange);
        assert_eq!(warnings[0].id.as_deref(), Some("OSV-TEST-1"));
        let v = Version::parse(VersionScheme::Pep440, "0.5").unwrap();
        assert_eq!(
            adv.affected[0].evaluate(&v),
            Verdict::Affected { fixed: None }
        );
        let v = Version::parse(VersionScheme::Pep440, "1.0").unwrap();
        assert!(matches!(
            adv.affected[0].evaluate(&v),
            Verdict::Indeterminate(_)
        ));
    }

    #[test]
    fn schema_violations_reject_the_record() {
        for (affected, why) in [
            (
                r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1"}]}]}"#,
                "no introduced",
            ),
            (
                r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]}"#,
                "two keys",
            ),
            (
                r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[]}]}"#,
                "no events",
            ),
            (
                r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"RANGE","events":[{"introduced":"0"}]}]}"#,
                "bad type",
            ),
            (
                r#"{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2"},{"last_affected":"1"}]}]}"#,
                "fixed and last_affected",
            ),
            (
                r#"{"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}"#,
                "GIT without repo",
            ),
            (
                r#"{"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"abc"}]}]}"#,
                "short hash",
            ),
            (
                r#"{"package":{"ecosystem":"Nonsense","name":"x"}}"#,
                "unknown ecosystem",
            ),
            (r#"{"package":{"ecosystem":"PyPI"}}"#, "no name"),
        ] {
            match parse_record(&record(affected), "f.json") {
                Err(Rejection::Invalid(w)) => {
                    assert_eq!(w.kind, WarningKind::SchemaViolation, "{why}");
                    assert_eq!(w.id.as_deref(), Some("OSV-TEST-1"), "{why}");
                }
                other => panic!("{why}: {other:?}"),
            }
        }
        for bad in [
            &b"{"[..],
            b"[]",
            br#"{"modified":"2024-01-01T00:00:00Z"}"#,
            br#"{"id":"X-1"}"#,
            br#"{"id":"X-1","modified":"yesterday"}"#,
        ] {
            assert!(matches!(
                parse_record(bad, "f.json"),
                Err(Rejection::Invalid(_))
            ));
        }
    }

    #[test]
    fn unsupported_ecosystems_and_unknown_fields_are_not_fatal() {
        let bytes = br#"{"id":"GHSA-x","modified":"2024-01-01T00:00:00Z","new_field":{"a":1},
            "severity":[{"type":"CVSS_V9","score":"?"}],
            "affected":[{"package":{"ecosystem":"RubyGems","name":"rails"}},
                        {"package":{"ecosystem":"npm","name":"lodash"},"versions":["1.0.0"]}]}"#;
        let (adv, warnings) = parse_record(bytes, "f.json").unwrap();
        assert_eq!(adv.affected.len(), 1);
        let kinds: Vec<_> = warnings.iter().map(|w| w.kind).collect();
        assert_eq!(
            kinds,
            [
                WarningKind::UnreadableSeverity,
                WarningKind::UnsupportedEcosystem
            ]
        );
    }

    #[test]
    fn withdrawn_records_are_rejected_as_withdrawn() {
        let bytes =
            br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","withdrawn":"2024-01-02T00:00:00Z"}"#;
        match parse_record(bytes, "f") {
            Err(Rejection::Withdrawn(a)) => assert_eq!(a.id, "X-1"),
            other => panic!("{other:?}"),
        }
    }
}
