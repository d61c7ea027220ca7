//! npm: installed packages (`node_modules/<name>/package.json`, scoped and nested) and lock
//! files (`package-lock.json` / `npm-shrinkwrap.json` v1, v2 and v3, npm's hidden
//! `node_modules/.package-lock.json`, and `yarn.lock` v1 and berry).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{FileParse, fingerprint};

/// An installed package's `package.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpmPackage {
    pub(crate) name: String,
    pub(crate) version: String,
    /// Declared licences (`license`, or the legacy `licenses` array).
    pub(crate) licenses: Vec<String>,
    pub(crate) fingerprint: u64,
}

/// One entry of a lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LockEntry {
    pub(crate) name: String,
    pub(crate) version: String,
    /// Install path relative to the project root (`node_modules/send/node_modules/ms`);
    /// empty for yarn, whose lock file does not say where a package is installed.
    pub(crate) path: String,
    /// Only needed for development.
    pub(crate) dev: bool,
    /// Declared licence (lock v2+ records it).
    pub(crate) license: Option<String>,
    pub(crate) fingerprint: u64,
}

/// A parsed `package-lock.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NpmLock {
    pub(crate) version: u64,
    pub(crate) entries: Vec<LockEntry>,
}

#[derive(Deserialize)]
struct PackageJson {
    name: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
    license: Option<serde_json::Value>,
    licenses: Option<serde_json::Value>,
}

/// Licence names from a `license`/`licenses` value in any of the shapes npm has accepted:
/// `"MIT"`, `{"type": "MIT"}`, `[{"type": "MIT"}, "ISC"]`.
fn license_names(value: Option<&serde_json::Value>, out: &mut Vec<String>) {
    match value {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => {
            out.push(s.trim().to_owned());
        }
        Some(serde_json::Value::Object(o)) => license_names(o.get("type"), out),
        Some(serde_json::Value::Array(items)) => {
            for item in items.iter().take(16) {
                license_names(Some(item), out);
            }
        }
        _ => {}
    }
}

fn string_field(value: Option<&serde_json::Value>) -> Option<&str> {
    value
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 512)
}

/// Parses an installed package's `package.json`. Not JSON, or no name and version, is an
/// error for this one file.
pub(crate) fn parse_package_json(bytes: &[u8]) -> Result<FileParse<NpmPackage>, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let pkg: PackageJson = serde_json::from_slice(bytes)
        .map_err(|e| format!("package.json is not valid JSON: {e}"))?;
    let (Some(name), Some(version)) = (
        string_field(pkg.name.as_ref()),
        string_field(pkg.version.as_ref()),
    ) else {
        return Err("package.json has no name or version".to_owned());
    };
    let mut licenses = Vec::new();
    license_names(pkg.license.as_ref(), &mut licenses);
    if licenses.is_empty() {
        license_names(pkg.licenses.as_ref(), &mut licenses);
    }
    Ok(FileParse::new(
        NpmPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            licenses,
            fingerprint: fingerprint(bytes),
        },
        Vec::new(),
    ))
}

#[derive(Deserialize)]
struct PackageLock {
    #[serde(rename = "lockfileVersion", default)]
    lockfile_version: Option<u64>,
    #[serde(default)]
    packages: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    dependencies: Option<BTreeMap<String, serde_json::Value>>,
}

/// Parses `package-lock.json` (v1: nested `dependencies`; v2/v3: flat `packages` keyed by
/// install path). The root project, links to local folders and entries outside
/// `node_modules` are left out: they are the project itself, not its dependencies.
pub(crate) fn parse_package_lock(bytes: &[u8]) -> Result<FileParse<NpmLock>, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let lock: PackageLock =
        serde_json::from_slice(bytes).map_err(|e| format!("lock file is not valid JSON: {e}"))?;
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    let version = lock.lockfile_version.unwrap_or(1);
    if let Some(packages) = &lock.packages {
        for (key, entry) in packages {
            let Some(idx) = key.rfind("node_modules/") else {
                continue; // "" (the root) or a workspace folder
            };
            if entry.get("link").and_then(serde_json::Value::as_bool) == Some(true) {
                continue;
            }
            let name =
                string_field(entry.get("name")).unwrap_or(&key[idx + "node_modules/".len()..]);
            let Some(version) = string_field(entry.get("version")) else {
                warnings.push(format!("lock entry {key:?} has no version"));
                continue;
            };
            if name.is_empty() {
                warnings.push(format!("lock entry {key:?} has no package name"));
                continue;
            }
            let mut licenses = Vec::new();
            license_names(entry.get("license"), &mut licenses);
            entries.push(LockEntry {
                name: name.to_owned(),
                version: version.to_owned(),
                path: key.clone(),
                dev: entry.get("dev").and_then(serde_json::Value::as_bool) == Some(true),
                license: licenses.into_iter().next(),
                fingerprint: fingerprint(entry.to_string().as_bytes()),
            });
        }
    } else if let Some(deps) = &lock.dependencies {
        walk_v1(deps, "", 0, &mut entries, &mut warnings);
    }
    Ok(FileParse::new(NpmLock { version, entries }, warnings))
}

/// lockfile v1: `dependencies` nest the way `node_modules` folders do.
fn walk_v1(
    deps: &BTreeMap<String, serde_json::Value>,
    prefix: &str,
    depth: usize,
    entries: &mut Vec<LockEntry>,
    warnings: &mut Vec<String>,
) {
    if depth > 64 {
        warnings
            .push("lock file nests dependencies deeper than 64 levels; stopped there".to_owned());
        return;
    }
    for (name, entry) in deps {
        let path = format!("{prefix}node_modules/{name}");
        match string_field(entry.get("version")) {
            // `file:` and `link:` versions are local folders, not packages from a registry.
            Some(v) if v.starts_with("file:") || v.starts_with("link:") => {}
            Some(version) => entries.push(LockEntry {
                name: name.clone(),
                version: version.to_owned(),
                path: path.clone(),
                dev: entry.get("dev").and_then(serde_json::Value::as_bool) == Some(true),
                license: None,
                fingerprint: fingerprint(entry.to_string().as_bytes()),
            }),
            None => warnings.push(format!("lock entry {path:?} has no version")),
        }
        if let Some(serde_json::Value::Object(nested)) = entry.get("dependencies") {
            let nested: BTreeMap<String, serde_json::Value> =
                nested.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            walk_v1(&nested, &format!("{path}/"), depth + 1, entries, warnings);
        }
    }
}

/// Parses `yarn.lock` (classic v1 and berry). Workspace entries (`0.0.0-use.local`) are the
/// project itself and are left out.
pub(crate) fn parse_yarn_lock(bytes: &[u8]) -> Result<FileParse<Vec<LockEntry>>, String> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes))
        .map_err(|e| format!("yarn.lock is not UTF-8: {e}"))?;
    let lock = std::panic::catch_unwind(|| {
        yarn_lock_parser::parse_str(text).map(|lock| {
            lock.entries
                .iter()
                .map(|e| {
                    (
                        e.name.to_owned(),
                        e.version.to_owned(),
                        e.resolved.to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
    })
    .map_err(|_| "yarn.lock could not be parsed (parser failure)".to_owned())?
    .map_err(|e| format!("yarn.lock could not be parsed: {e}"))?;
    let mut entries = Vec::new();
    for (name, version, resolved) in lock {
        if version.contains("use.local") || resolved.contains("@workspace:") || name.is_empty() {
            continue;
        }
        let fp = fingerprint(format!("{name}@{version}").as_bytes());
        entries.push(LockEntry {
            name,
            version,
            path: String::new(),
            dev: false,
            license: None,
            fingerprint: fp,
        });
    }
    entries.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    entries.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    Ok(FileParse::new(entries, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_package_json_licence_shapes() {
        // ms@2.0.0 as published on the npm registry (trimmed).
        let ms = br#"{"name":"ms","version":"2.0.0","description":"Tiny milisecond conversion utility","license":"MIT","main":"./index"}"#;
        let p = parse_package_json(ms).unwrap().value;
        assert_eq!((p.name.as_str(), p.version.as_str()), ("ms", "2.0.0"));
        assert_eq!(p.licenses, ["MIT"]);
        let legacy =
            br#"{"name":"x","version":"1.0.0","licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}"#;
        assert_eq!(
            parse_package_json(legacy).unwrap().value.licenses,
            ["MIT", "Apache-2.0"]
        );
        let object = br#"{"name":"@scope/y","version":"2.0.0","license":{"type":"ISC","url":"x"}}"#;
        assert_eq!(parse_package_json(object).unwrap().value.licenses, ["ISC"]);
    }

    #[test]
    fn package_json_that_is_not_json_is_an_error() {
        for bad in [
            &b"not json"[..],
            b"{\"name\":1,\"version\":2}",
            b"{}",
            b"[]",
            b"",
            b"{\"name\":\"a\"",
        ] {
            assert!(
                parse_package_json(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_package_json(deep.as_bytes()).is_err());
    }

    #[test]
    fn reads_lockfile_v3() {
        // Shape of npm 9's package-lock.json for an express app (trimmed).
        let lock = br#"{
  "name": "demo-app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "demo-app", "version": "1.0.0", "dependencies": {"express": "^4.21.2"}},
    "node_modules/express": {"version": "4.21.2", "resolved": "https://registry.npmjs.org/express/-/express-4.21.2.tgz", "license": "MIT"},
    "node_modules/send/node_modules/ms": {"version": "2.1.3", "license": "MIT"},
    "node_modules/typescript": {"version": "5.0.0", "dev": true},
    "node_modules/local": {"resolved": "packages/local", "link": true},
    "packages/local": {"name": "local", "version": "0.0.1"}
  }
}"#;
        let parsed = parse_package_lock(lock).unwrap();
        assert!(parsed.warnings.is_empty());
        let l = parsed.value;
        assert_eq!(l.version, 3);
        let got: Vec<_> = l
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.version.as_str(), e.path.as_str(), e.dev))
            .collect();
        assert_eq!(
            got,
            [
                ("express", "4.21.2", "node_modules/express", false),
                ("ms", "2.1.3", "node_modules/send/node_modules/ms", false),
                ("typescript", "5.0.0", "node_modules/typescript", true),
            ]
        );
        assert_eq!(l.entries[0].license.as_deref(), Some("MIT"));
    }

    #[test]
    fn reads_lockfile_v1() {
        let lock = br#"{"name":"a","version":"1.0.0","lockfileVersion":1,"dependencies":{
            "send":{"version":"0.19.0","dependencies":{"ms":{"version":"2.1.3"}}},
            "local":{"version":"file:../local"},
            "noversion":{}
        }}"#;
        let parsed = parse_package_lock(lock).unwrap();
        assert_eq!(parsed.warnings.len(), 1);
        let paths: Vec<_> = parsed
            .value
            .entries
            .iter()
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(
            paths,
            ["node_modules/send", "node_modules/send/node_modules/ms"]
        );
    }

    #[test]
    fn reads_yarn_lock_v1() {
        let lock = b"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\nms@2.1.3, ms@^2.1.1:\n  version \"2.1.3\"\n  resolved \"https://registry.yarnpkg.com/ms/-/ms-2.1.3.tgz#574c8138ce1d2b5861f0b44579dbadd60c6615b2\"\n  integrity sha512-6FlzubTLZG3J2a/NVCAleEhjzq5oxgHyaCU9yYXvcLsvoVaHJq/s5xXI6/XXP6tz7R9xAOtHnSO/tXtF3WRTlA==\n";
        let parsed = parse_yarn_lock(lock).unwrap();
        assert_eq!(parsed.value.len(), 1);
        assert_eq!(
            (
                parsed.value[0].name.as_str(),
                parsed.value[0].version.as_str()
            ),
            ("ms", "2.1.3")
        );
        assert!(parse_yarn_lock(b"\xff\xfe").is_err());
        let _ = parse_yarn_lock(b"a:\n  version\n");
    }
}
