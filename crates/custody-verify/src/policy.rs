//! The policy file: which keys hold which role, the ledger's key, and each rule's parameters.
//!
//! Parsing walks the whole document and collects every mistake with its line (an unknown key,
//! a wrong type, a key file that does not parse, a role a rule needs with no keys) instead of
//! stopping at the first, so `custody policy check` can list them all. A policy with any
//! mistake is refused as a whole: a verifier never runs with a half-understood policy.
//!
//! Key files are read through a caller-supplied loader (the CLI resolves paths relative to the
//! policy file), so this module stays free of I/O.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use custody_attest::PublicKey;
use custody_log::{KeyName, VerifierKey};
use custody_types::{Digest, KeyId, Role};
use custody_vuln::SeverityLevel;
use ed25519_dalek::pkcs8::DecodePublicKey;
use jiff::SignedDuration;
use packageurl::PackageUrl;

use crate::yaml::{self, Kind, Location, Node};

/// Largest policy file read: real ones are a few hundred bytes.
pub const MAX_POLICY_BYTES: usize = 1 << 20;

/// The only policy format version.
pub const POLICY_VERSION: u64 = 1;

/// One mistake in a policy, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProblem {
    /// Where in the file (absent for whole-file problems such as its size).
    pub at: Option<Location>,
    /// What is wrong, naming the key.
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "line {}: {}", at.line, self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every mistake found in a policy, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The mistakes (never empty).
    pub problems: Vec<PolicyProblem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "policy has {n} mistake{}", if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

/// Whether an image must, may or must not be built on a base image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BaseImageMode {
    /// The provenance must name a base image from the library.
    Required,
    /// A base image named by the provenance is checked; none is fine.
    Optional,
    /// The provenance must not name a base image (images built from scratch only).
    Forbidden,
}

/// Who may sign something: every key of a role, or one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerRef {
    /// Any key the policy lists under the role.
    Role(Role),
    /// One key, by its ID.
    Key(KeyId),
}

/// A forbidden package: by name (any ecosystem) or by package URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackagePattern {
    /// A component name, compared exactly (`openssh-server`).
    Name(String),
    /// A package URL: type, namespace and name must match, and the version when given.
    Purl(String),
}

impl PackagePattern {
    fn parse(text: &str) -> Result<PackagePattern, String> {
        if text.trim().is_empty() {
            return Err("a forbidden package must not be empty".into());
        }
        if text.starts_with("pkg:") {
            PackageUrl::from_str(text)
                .map_err(|e| format!("{text:?} is not a package URL: {e}"))?;
            Ok(PackagePattern::Purl(text.to_owned()))
        } else {
            Ok(PackagePattern::Name(text.to_owned()))
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        match self {
            PackagePattern::Name(s) | PackagePattern::Purl(s) => s,
        }
    }

    /// Whether a component with `name` and `purl` matches.
    pub fn matches(&self, name: &str, purl: Option<&str>) -> bool {
        match self {
            PackagePattern::Name(n) => n == name,
            PackagePattern::Purl(p) => {
                let (Ok(want), Some(Ok(have))) =
                    (PackageUrl::from_str(p), purl.map(PackageUrl::from_str))
                else {
                    return false;
                };
                want.ty() == have.ty()
                    && want.namespace() == have.namespace()
                    && want.name() == have.name()
                    && want.version().is_none_or(|v| Some(v) == have.version())
            }
        }
    }
}

impl serde::Serialize for PackagePattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Rule 1: which roles sign the base's layers and which the build's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayersRule {
    /// Roles whose keys may sign a base image's layers (default: base-library).
    pub base_signers: Vec<Role>,
    /// Roles whose keys may sign the layers the build added (default: builder).
    pub build_signers: Vec<Role>,
}

/// Rule 3: which roles sign the build provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProvenanceRule {
    /// Roles whose keys may sign the provenance (default: builder).
    pub signers: Vec<Role>,
}

/// Rule 4: the vulnerability scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScanRule {
    /// Whether a scan is needed at all.
    pub required: bool,
    /// Oldest acceptable scan (from its finish time to the decision's time).
    #[serde(serialize_with = "ser_duration")]
    pub max_age: SignedDuration,
    /// Highest severity an unwaived finding may have.
    #[serde(serialize_with = "ser_severity")]
    pub max_severity: SeverityLevel,
    /// Who may waive findings with VEX statements.
    pub vex_signers: Vec<SignerRef>,
    /// Whether a scan that could not evaluate some components fails.
    pub require_zero_unevaluated: bool,
}

fn ser_duration<S: serde::Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

fn ser_severity<S: serde::Serializer>(l: &SeverityLevel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(l.as_str())
}

/// Rule 5: four eyes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReviewsRule {
    /// Distinct reviewer keys that must have approved (none of them a builder's key).
    pub min: u32,
}

/// Rule 6: the image config and final filesystem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigRule {
    /// Whether the image must not run as root.
    pub non_root: bool,
    /// Packages that must not be in the final filesystem.
    pub forbidden_packages: Vec<PackagePattern>,
}

/// Rule 7: the ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerRule {
    /// Whether an offline bundle is acceptable evidence (default: no, only a live ledger).
    pub accept_bundles: bool,
    /// Whether scans and reviews must be logged after the build provenance (default: yes).
    pub logged_after_build: bool,
}

/// Every rule's parameters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rules {
    /// Rule 1.
    pub layers: LayersRule,
    /// Rule 2.
    pub base_image: BaseImageMode,
    /// Rule 3.
    pub provenance: ProvenanceRule,
    /// Rule 4.
    pub scan: ScanRule,
    /// Rule 5.
    pub reviews: ReviewsRule,
    /// Rule 6.
    pub config: ConfigRule,
    /// Rule 7.
    pub ledger: LedgerRule,
}

impl Default for Rules {
    /// The strict defaults a rule takes when the policy does not mention it.
    fn default() -> Self {
        Rules {
            layers: LayersRule {
                base_signers: vec![Role::BaseLibrary],
                build_signers: vec![Role::Builder],
            },
            base_image: BaseImageMode::Required,
            provenance: ProvenanceRule {
                signers: vec![Role::Builder],
            },
            scan: ScanRule {
                required: true,
                max_age: SignedDuration::from_hours(7 * 24),
                max_severity: SeverityLevel::High,
                vex_signers: Vec::new(),
                require_zero_unevaluated: true,
            },
            reviews: ReviewsRule { min: 1 },
            config: ConfigRule {
                non_root: true,
                forbidden_packages: Vec::new(),
            },
            ledger: LedgerRule {
                accept_bundles: false,
                logged_after_build: true,
            },
        }
    }
}

/// A key the policy trusts, with every role it holds there.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key.
    pub key: PublicKey,
    /// Its roles (a key listed under two roles holds both).
    pub roles: BTreeSet<Role>,
    /// The file it was read from, as the policy wrote it.
    pub source: String,
}

/// A checked policy: keys loaded, rules with their parameters.
#[derive(Debug, Clone)]
pub struct Policy {
    digest: Digest,
    log_key: VerifierKey,
    keys: Vec<TrustedKey>,
    extra_keys: Vec<TrustedKey>,
    rules: Rules,
    /// Every key's usual keyid hints (custody key ID, securesystemslib key ID) to the keys,
    /// so that finding the key for a signature is a lookup, not a hash per key.
    hints: std::collections::HashMap<String, Vec<PublicKey>>,
}

/// Reads a key file named in the policy: given the path as written, returns its text or why
/// it could not be read.
pub type KeyLoader<'a> = dyn FnMut(&str) -> Result<String, String> + 'a;

impl Policy {
    /// Parses a policy, loading every key file through `load`. All mistakes are reported.
    pub fn parse(text: &str, load: &mut KeyLoader<'_>) -> Result<Policy, PolicyError> {
        let mut cx = Cx {
            problems: Vec::new(),
            load,
        };
        let policy = cx.policy(text);
        if !cx.problems.is_empty() {
            cx.problems.sort_by_key(|p| p.at);
            return Err(PolicyError {
                problems: cx.problems,
            });
        }
        policy.ok_or_else(|| PolicyError {
            problems: vec![PolicyProblem {
                at: None,
                message: "policy could not be read".into(),
            }],
        })
    }

    /// SHA-256 of the policy file's bytes (recorded in every decision).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The ledger's checkpoint key (its name is the log origin).
    pub fn log_key(&self) -> &VerifierKey {
        &self.log_key
    }

    /// The log origin checkpoints must carry.
    pub fn log_origin(&self) -> &str {
        self.log_key.name().as_str()
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Every key listed under a role.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Every public key that can verify something under this policy (role keys and keys named
    /// only as VEX signers).
    pub fn all_keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter().chain(self.extra_keys.iter())
    }

    /// The keys a signature's keyid hint names: looked up among the usual forms first, then
    /// every form `PublicKey::matches_hint` knows. Empty when the hint names no policy key.
    pub fn keys_for_hint(&self, hint: &str) -> Vec<PublicKey> {
        if hint.is_empty() {
            return Vec::new();
        }
        if let Some(keys) = self.hints.get(hint) {
            return keys.clone();
        }
        self.all_keys()
            .map(|k| &k.key)
            .filter(|k| k.matches_hint(hint))
            .cloned()
            .collect()
    }

    /// The roles a key holds.
    pub fn roles_of(&self, key: &KeyId) -> BTreeSet<Role> {
        self.keys
            .iter()
            .filter(|k| k.key.key_id() == *key)
            .flat_map(|k| k.roles.iter().copied())
            .collect()
    }

    /// Whether `key` holds any of `roles`.
    pub fn key_has_role(&self, key: &KeyId, roles: &[Role]) -> bool {
        self.keys
            .iter()
            .any(|k| k.key.key_id() == *key && roles.iter().any(|r| k.roles.contains(r)))
    }

    /// Whether `key` is one of `signers`.
    pub fn key_is(&self, key: &KeyId, signers: &[SignerRef]) -> bool {
        signers.iter().any(|s| match s {
            SignerRef::Role(r) => self.key_has_role(key, std::slice::from_ref(r)),
            SignerRef::Key(k) => k == key,
        })
    }
}

/// Parses `7d`, `24h`, `90m`, `3600s`, `2w` or a sum such as `1d12h`.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let bad = || {
        format!(
            "{text:?} is not a duration (write a number and a unit: s, m, h, d or w, e.g. 7d or 36h)"
        )
    };
    let mut total: i64 = 0;
    let mut digits = String::new();
    if text.is_empty() {
        return Err(bad());
    }
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    if total <= 0 {
        return Err(format!("{text:?} must be longer than zero"));
    }
    if total > 10 * 366 * 86_400 {
        return Err(format!("{text:?} is longer than ten years"));
    }
    Ok(SignedDuration::from_secs(total))
}

/// Formats a duration the way [`parse_duration`] reads it (largest whole units).
pub fn format_duration(d: SignedDuration) -> String {
    let mut secs = d.as_secs();
    if secs <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

fn parse_severity(text: &str) -> Option<SeverityLevel> {
    SeverityLevel::ALL
        .into_iter()
        .find(|l| l.as_str() == text.to_ascii_lowercase())
}

const TOP_KEYS: &[&str] = &["version", "log_key", "log_origin", "roles", "rules"];
const RULE_NAMES: &[&str] = &[
    "layers",
    "base_image",
    "provenance",
    "scan",
    "reviews",
    "config",
    "ledger",
];

struct Cx<'l, 'a> {
    problems: Vec<PolicyProblem>,
    load: &'l mut KeyLoader<'a>,
}

impl Cx<'_, '_> {
    fn problem(&mut self, at: Location, message: impl Into<String>) {
        self.problems.push(PolicyProblem {
            at: Some(at),
            message: message.into(),
        });
    }

    fn policy(&mut self, text: &str) -> Option<Policy> {
        if text.len() > MAX_POLICY_BYTES {
            self.problems.push(PolicyProblem {
                at: None,
                message: format!(
                    "policy is {} bytes, more than the {MAX_POLICY_BYTES} accepted",
                    text.len()
                ),
            });
            return None;
        }
        let (root, syntax) = yaml::parse(text);
        for p in syntax {
            self.problem(p.at, p.message);
        }
        let Some(root) = root else {
            if self.problems.is_empty() {
                self.problems.push(PolicyProblem {
                    at: None,
                    message: "the policy file is empty".into(),
                });
            }
            return None;
        };
        let Kind::Map(entries) = &root.kind else {
            self.problem(
                root.at,
                format!(
                    "a policy is a mapping with {}, not {}",
                    TOP_KEYS.join(", "),
                    root.describe()
                ),
            );
            return None;
        };
        let get = |k: &str| entries.iter().find(|(key, _, _)| key == k);
        for (key, at, _) in entries {
            if !TOP_KEYS.contains(&key.as_str()) {
                self.problem(
                    *at,
                    format!("unknown key `{key}` (a policy has {})", TOP_KEYS.join(", ")),
                );
            }
        }
        match get("version") {
            None => self.problem(root.at, "`version: 1` is missing"),
            Some((_, _, v)) => match self.int(v, "version") {
                Some(POLICY_VERSION) | None => {}
                Some(other) => self.problem(
                    v.at,
                    format!("version {other} is not supported (this custody reads version 1)"),
                ),
            },
        }
        let origin = get("log_origin").and_then(|(_, _, v)| {
            let s = self.string(v, "log_origin")?;
            match KeyName::new(&s) {
                Ok(_) => Some((s, v.at)),
                Err(e) => {
                    self.problem(v.at, format!("log_origin {s:?}: {e}"));
                    None
                }
            }
        });
        let log_key = match get("log_key") {
            None => {
                self.problem(
                    root.at,
                    "`log_key` (the ledger's public key file) is missing",
                );
                None
            }
            Some((_, _, v)) => self.log_key(v, origin.as_ref()),
        };
        let mut keys: Vec<TrustedKey> = Vec::new();
        match get("roles") {
            None => self.problem(root.at, "`roles` is missing"),
            Some((_, _, v)) => self.roles(v, &mut keys),
        }
        let mut extra_keys = Vec::new();
        let rules = match get("rules") {
            None => Rules::default(),
            Some((_, _, v)) => self.rules(v, &mut extra_keys),
        };
        self.required_roles(
            &rules,
            &keys,
            get("roles").map(|(_, at, _)| *at).unwrap_or(root.at),
        );
        let mut hints: std::collections::HashMap<String, Vec<PublicKey>> =
            std::collections::HashMap::new();
        for k in keys.iter().chain(extra_keys.iter()) {
            for hint in [k.key.key_id().to_string(), k.key.securesystemslib_keyid()] {
                let entry = hints.entry(hint).or_default();
                if !entry.iter().any(|e| e.key_id() == k.key.key_id()) {
                    entry.push(k.key.clone());
                }
            }
        }
        Some(Policy {
            digest: Digest::sha256_of(text.as_bytes()),
            log_key: log_key?,
            keys,
            extra_keys,
            rules,
            hints,
        })
    }

    fn required_roles(&mut self, rules: &Rules, keys: &[TrustedKey], at: Location) {
        let mut needed: BTreeSet<Role> = BTreeSet::new();
        needed.extend(rules.layers.build_signers.iter().copied());
        needed.extend(rules.provenance.signers.iter().copied());
        if rules.base_image == BaseImageMode::Required {
            needed.extend(rules.layers.base_signers.iter().copied());
        }
        if rules.scan.required {
            needed.insert(Role::Scanner);
        }
        if rules.reviews.min > 0 {
            needed.insert(Role::Reviewer);
        }
        for role in needed {
            if !keys.iter().any(|k| k.roles.contains(&role)) {
                self.problem(
                    at,
                    format!("the rules need keys of role {role}, but `roles` lists none"),
                );
            }
        }
        if rules.reviews.min > 0 {
            let reviewers: BTreeSet<KeyId> = keys
                .iter()
                .filter(|k| k.roles.contains(&Role::Reviewer) && !k.roles.contains(&Role::Builder))
                .map(|k| k.key.key_id())
                .collect();
            if reviewers.len() < rules.reviews.min as usize && !reviewers.is_empty() {
                self.problem(
                    at,
                    format!(
                        "reviews.min is {} but only {} reviewer keys (that are not builder keys) are listed",
                        rules.reviews.min,
                        reviewers.len()
                    ),
                );
            }
        }
    }

    fn log_key(&mut self, v: &Node, origin: Option<&(String, Location)>) -> Option<VerifierKey> {
        let path = self.string(v, "log_key")?;
        let text = match (self.load)(&path) {
            Ok(t) => t,
            Err(e) => {
                self.problem(v.at, format!("log_key {path}: {e}"));
                return None;
            }
        };
        let trimmed = text.trim();
        if trimmed.starts_with("-----BEGIN") {
            let key = match ed25519_dalek::VerifyingKey::from_public_key_pem(trimmed) {
                Ok(k) => k,
                Err(e) => {
                    self.problem(
                        v.at,
                        format!("log_key {path} is not an ed25519 SPKI PEM public key: {e}"),
                    );
                    return None;
                }
            };
            let Some((origin, _)) = origin else {
                self.problem(
                    v.at,
                    format!(
                        "log_key {path} is a PEM key, so `log_origin` (the ledger's origin line) is needed too"
                    ),
                );
                return None;
            };
            let name = KeyName::new(origin).ok()?;
            return Some(VerifierKey::new(name, key));
        }
        match VerifierKey::from_str(trimmed) {
            Ok(k) => {
                if let Some((origin, at)) = origin
                    && k.name().as_str() != origin
                {
                    self.problem(
                        *at,
                        format!(
                            "log_origin {origin:?} is not the name of log_key {path} ({:?})",
                            k.name().as_str()
                        ),
                    );
                    return None;
                }
                Some(k)
            }
            Err(e) => {
                self.problem(
                    v.at,
                    format!(
                        "log_key {path} is neither an ed25519 PEM public key nor a C2SP note verifier key: {e}"
                    ),
                );
                None
            }
        }
    }

    fn load_key(&mut self, v: &Node, what: &str) -> Option<(PublicKey, String)> {
        let path = self.string(v, what)?;
        let text = match (self.load)(&path) {
            Ok(t) => t,
            Err(e) => {
                self.problem(v.at, format!("{what} key {path}: {e}"));
                return None;
            }
        };
        match PublicKey::from_text(&text) {
            Ok(k) => Some((k, path)),
            Err(e) => {
                self.problem(v.at, format!("{what} key {path} {e}"));
                None
            }
        }
    }

    fn roles(&mut self, v: &Node, keys: &mut Vec<TrustedKey>) {
        let Some(entries) = self.map(v, "roles") else {
            return;
        };
        for (name, at, value) in entries {
            let role = match Role::from_str(name) {
                Ok(r) => r,
                Err(e) => {
                    self.problem(*at, e.to_string());
                    continue;
                }
            };
            let items: Vec<&Node> = match &value.kind {
                Kind::Seq(items) => items.iter().collect(),
                Kind::Scalar(..) if !value.is_null() => vec![value],
                _ => {
                    self.problem(
                        value.at,
                        format!(
                            "roles.{role} must be a list of public key files, not {}",
                            value.describe()
                        ),
                    );
                    continue;
                }
            };
            if items.is_empty() {
                self.problem(value.at, format!("roles.{role} lists no keys"));
            }
            let mut seen_here: Vec<KeyId> = Vec::new();
            for item in items {
                let Some((key, source)) = self.load_key(item, &format!("roles.{role}")) else {
                    continue;
                };
                let id = key.key_id();
                if seen_here.contains(&id) {
                    self.problem(
                        item.at,
                        format!("roles.{role} lists key {id} twice ({source})"),
                    );
                    continue;
                }
                seen_here.push(id);
                match keys.iter_mut().find(|k| k.key.key_id() == id) {
                    Some(existing) => {
                        existing.roles.insert(role);
                    }
                    None => keys.push(TrustedKey {
                        key,
                        roles: BTreeSet::from([role]),
                        source,
                    }),
                }
            }
        }
    }

    fn rules(&mut self, v: &Node, extra_keys: &mut Vec<TrustedKey>) -> Rules {
        let mut rules = Rules::default();
        let Some(entries) = self.map(v, "rules") else {
            return rules;
        };
        for (name, at, value) in entries {
            match name.as_str() {
                "layers" => self.layers(value, &mut rules.layers),
                "base_image" => {
                    if let Some(s) = self.string(value, "rules.base_image") {
                        match s.as_str() {
                            "required" => rules.base_image = BaseImageMode::Required,
                            "optional" => rules.base_image = BaseImageMode::Optional,
                            "forbidden" => rules.base_image = BaseImageMode::Forbidden,
                            other => self.problem(
                                value.at,
                                format!(
                                    "rules.base_image is {other:?}; expected required, optional or forbidden"
                                ),
                            ),
                        }
                    }
                }
                "provenance" => self.provenance(value, &mut rules.provenance),
                "scan" => self.scan(value, &mut rules.scan, extra_keys),
                "reviews" => {
                    let Some(entries) = self.map(value, "rules.reviews") else {
                        continue;
                    };
                    for (k, kat, kv) in entries {
                        match k.as_str() {
                            "min" => {
                                if let Some(n) = self.int(kv, "rules.reviews.min") {
                                    match u32::try_from(n) {
                                        Ok(n) if n <= 100 => rules.reviews.min = n,
                                        _ => self.problem(
                                            kv.at,
                                            "rules.reviews.min must be between 0 and 100",
                                        ),
                                    }
                                }
                            }
                            _ => self.unknown(*kat, "rules.reviews", k, &["min"]),
                        }
                    }
                }
                "config" => self.config(value, &mut rules.config),
                "ledger" => {
                    let Some(entries) = self.map(value, "rules.ledger") else {
                        continue;
                    };
                    for (k, kat, kv) in entries {
                        match k.as_str() {
                            "accept_bundles" => {
                                if let Some(b) = self.bool(kv, "rules.ledger.accept_bundles") {
                                    rules.ledger.accept_bundles = b;
                                }
                            }
                            "logged_after_build" => {
                                if let Some(b) = self.bool(kv, "rules.ledger.logged_after_build") {
                                    rules.ledger.logged_after_build = b;
                                }
                            }
                            _ => self.unknown(
                                *kat,
                                "rules.ledger",
                                k,
                                &["accept_bundles", "logged_after_build"],
                            ),
                        }
                    }
                }
                other => self.problem(
                    *at,
                    format!(
                        "unknown rule `{other}` (the rules are {})",
                        RULE_NAMES.join(", ")
                    ),
                ),
            }
        }
        rules
    }

    fn roles_list(&mut self, v: &Node, what: &str) -> Option<Vec<Role>> {
        let items: Vec<&Node> = match &v.kind {
            Kind::Seq(items) => items.iter().collect(),
            Kind::Scalar(..) if !v.is_null() => vec![v],
            _ => {
                self.problem(v.at, format!("{what} must be a list of role names"));
                return None;
            }
        };
        let mut out = Vec::new();
        for item in items {
            let Some(s) = self.string(item, what) else {
                continue;
            };
            match Role::from_str(&s) {
                Ok(r) if !out.contains(&r) => out.push(r),
                Ok(_) => self.problem(item.at, format!("{what} names {s} twice")),
                Err(e) => self.problem(item.at, format!("{what}: {e}")),
            }
        }
        if out.is_empty() {
            self.problem(v.at, format!("{what} names no role"));
            return None;
        }
        Some(out)
    }

    fn layers(&mut self, v: &Node, rule: &mut LayersRule) {
        if let Kind::Scalar(s, _) = &v.kind {
            if s != "required" {
                self.problem(
                    v.at,
                    format!(
                        "rules.layers is {s:?}; layer attestations cannot be turned off (write `required` or a mapping with base_signers and build_signers)"
                    ),
                );
            }
            return;
        }
        let Some(entries) = self.map(v, "rules.layers") else {
            return;
        };
        for (k, kat, kv) in entries {
            match k.as_str() {
                "base_signers" => {
                    if let Some(r) = self.roles_list(kv, "rules.layers.base_signers") {
                        rule.base_signers = r;
                    }
                }
                "build_signers" => {
                    if let Some(r) = self.roles_list(kv, "rules.layers.build_signers") {
                        rule.build_signers = r;
                    }
                }
                _ => self.unknown(*kat, "rules.layers", k, &["base_signers", "build_signers"]),
            }
        }
    }

    fn provenance(&mut self, v: &Node, rule: &mut ProvenanceRule) {
        if let Kind::Scalar(s, _) = &v.kind {
            if s != "required" {
                self.problem(
                    v.at,
                    format!(
                        "rules.provenance is {s:?}; build provenance cannot be turned off (write `required` or a mapping with signers)"
                    ),
                );
            }
            return;
        }
        let Some(entries) = self.map(v, "rules.provenance") else {
            return;
        };
        for (k, kat, kv) in entries {
            match k.as_str() {
                "signers" => {
                    if let Some(r) = self.roles_list(kv, "rules.provenance.signers") {
                        rule.signers = r;
                    }
                }
                _ => self.unknown(*kat, "rules.provenance", k, &["signers"]),
            }
        }
    }

    fn scan(&mut self, v: &Node, rule: &mut ScanRule, extra_keys: &mut Vec<TrustedKey>) {
        let Some(entries) = self.map(v, "rules.scan") else {
            return;
        };
        const KEYS: &[&str] = &[
            "required",
            "max_age",
            "max_severity",
            "vex_signers",
            "require_zero_unevaluated",
        ];
        for (k, kat, kv) in entries {
            match k.as_str() {
                "required" => {
                    if let Some(b) = self.bool(kv, "rules.scan.required") {
                        rule.required = b;
                    }
                }
                "require_zero_unevaluated" => {
                    if let Some(b) = self.bool(kv, "rules.scan.require_zero_unevaluated") {
                        rule.require_zero_unevaluated = b;
                    }
                }
                "max_age" => {
                    if let Some(s) = self.string(kv, "rules.scan.max_age") {
                        match parse_duration(&s) {
                            Ok(d) => rule.max_age = d,
                            Err(e) => self.problem(kv.at, format!("rules.scan.max_age: {e}")),
                        }
                    }
                }
                "max_severity" => {
                    if let Some(s) = self.string(kv, "rules.scan.max_severity") {
                        match parse_severity(&s) {
                            Some(l) => rule.max_severity = l,
                            None => self.problem(
                                kv.at,
                                format!(
                                    "rules.scan.max_severity is {s:?}; expected none, low, medium, high or critical"
                                ),
                            ),
                        }
                    }
                }
                "vex_signers" => {
                    let items: Vec<&Node> = match &kv.kind {
                        Kind::Seq(items) => items.iter().collect(),
                        _ => {
                            self.problem(
                                kv.at,
                                "rules.scan.vex_signers must be a list of role names or key files",
                            );
                            continue;
                        }
                    };
                    let mut out = Vec::new();
                    for item in items {
                        let Some(s) = self.string(item, "rules.scan.vex_signers") else {
                            continue;
                        };
                        if let Ok(role) = Role::from_str(&s) {
                            out.push(SignerRef::Role(role));
                            continue;
                        }
                        let Some((key, source)) = self.load_key(item, "rules.scan.vex_signers")
                        else {
                            continue;
                        };
                        let id = key.key_id();
                        if !extra_keys.iter().any(|k| k.key.key_id() == id) {
                            extra_keys.push(TrustedKey {
                                key,
                                roles: BTreeSet::new(),
                                source,
                            });
                        }
                        out.push(SignerRef::Key(id));
                    }
                    rule.vex_signers = out;
                }
                _ => self.unknown(*kat, "rules.scan", k, KEYS),
            }
        }
    }

    fn config(&mut self, v: &Node, rule: &mut ConfigRule) {
        let Some(entries) = self.map(v, "rules.config") else {
            return;
        };
        for (k, kat, kv) in entries {
            match k.as_str() {
                "non_root" => {
                    if let Some(b) = self.bool(kv, "rules.config.non_root") {
                        rule.non_root = b;
                    }
                }
                "forbidden_packages" => {
                    let Kind::Seq(items) = &kv.kind else {
                        self.problem(
                            kv.at,
                            "rules.config.forbidden_packages must be a list of package names or purls",
                        );
                        continue;
                    };
                    let mut out = Vec::new();
                    for item in items {
                        let Some(s) = self.string(item, "rules.config.forbidden_packages") else {
                            continue;
                        };
                        match PackagePattern::parse(&s) {
                            Ok(p) => out.push(p),
                            Err(e) => self
                                .problem(item.at, format!("rules.config.forbidden_packages: {e}")),
                        }
                    }
                    rule.forbidden_packages = out;
                }
                _ => self.unknown(*kat, "rules.config", k, &["non_root", "forbidden_packages"]),
            }
        }
    }

    fn unknown(&mut self, at: Location, within: &str, key: &str, known: &[&str]) {
        self.problem(
            at,
            format!(
                "unknown key `{key}` in {within} (expected {})",
                known.join(", ")
            ),
        );
    }

    fn map<'n>(&mut self, v: &'n Node, what: &str) -> Option<&'n [(String, Location, Node)]> {
        match &v.kind {
            Kind::Map(entries) => Some(entries),
            _ => {
                self.problem(
                    v.at,
                    format!("{what} must be a mapping, not {}", v.describe()),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Node, what: &str) -> Option<String> {
        match &v.kind {
            Kind::Scalar(s, _) if !v.is_null() => Some(s.clone()),
            _ => {
                self.problem(
                    v.at,
                    format!("{what} must be a string, not {}", v.describe()),
                );
                None
            }
        }
    }

    fn bool(&mut self, v: &Node, what: &str) -> Option<bool> {
        match &v.kind {
            Kind::Scalar(s, false) if s == "true" => Some(true),
            Kind::Scalar(s, false) if s == "false" => Some(false),
            _ => {
                self.problem(v.at, format!("{what} must be true or false"));
                None
            }
        }
    }

    fn int(&mut self, v: &Node, what: &str) -> Option<u64> {
        match &v.kind {
            Kind::Scalar(s, false) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                match s.parse() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.problem(v.at, format!("{what} is too large"));
                        None
                    }
                }
            }
            _ => {
                self.problem(v.at, format!("{what} must be a non-negative integer"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert_eq!(parse_duration("24h").unwrap().as_secs(), 86_400);
        assert_eq!(parse_duration("1d12h").unwrap().as_secs(), 36 * 3600);
        assert_eq!(parse_duration("2w").unwrap().as_secs(), 14 * 86_400);
        for bad in [
            "",
            "7",
            "d",
            "7x",
            "-1d",
            "0s",
            "99999999999999999999d",
            "7 d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            format_duration(SignedDuration::from_secs(36 * 3600)),
            "1d12h"
        );
        assert_eq!(format_duration(SignedDuration::from_secs(7 * 86_400)), "1w");
    }

    #[test]
    fn package_patterns_match_names_and_purls() {
        let name = PackagePattern::parse("openssh-server").unwrap();
        assert!(name.matches("openssh-server", None));
        assert!(!name.matches("openssh-client", None));
        let purl = PackagePattern::parse("pkg:deb/debian/telnetd").unwrap();
        assert!(purl.matches("x", Some("pkg:deb/debian/telnetd@0.17-44?arch=amd64")));
        assert!(!purl.matches("telnetd", Some("pkg:apk/alpine/telnetd@1")));
        let pinned = PackagePattern::parse("pkg:pypi/six@1.16.0").unwrap();
        assert!(pinned.matches("six", Some("pkg:pypi/six@1.16.0")));
        assert!(!pinned.matches("six", Some("pkg:pypi/six@1.17.0")));
        assert!(PackagePattern::parse("pkg:").is_err());
    }
}
