//! Java archives (JAR, WAR, EAR): Maven coordinates from `META-INF/maven/<g>/<a>/pom.properties`,
//! in the archive and in archives nested inside it (`WEB-INF/lib/*.jar`, Spring Boot's
//! `BOOT-INF/lib/*.jar`), with `META-INF/MANIFEST.MF` as the fallback for archives that
//! carry no pom.properties. Reading is bounded: entry count, bytes inflated per archive
//! (zip bombs) and nesting depth all have limits.

use std::io::{Cursor, Read};

use super::{FileParse, fingerprint};
use crate::Limits;

/// Maven coordinates of one artifact found in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MavenRecord {
    /// `groupId`; empty when only a manifest named the artifact and it gave no vendor id.
    pub(crate) group: String,
    pub(crate) artifact: String,
    pub(crate) version: String,
    /// Where inside the outermost archive it was found: `""` for the archive itself,
    /// otherwise the chain of nested archive paths joined by `!/`.
    pub(crate) inner_path: String,
    pub(crate) fingerprint: u64,
}

/// Reads an archive held in memory. Problems (not a zip, a bomb, a bad entry) are warnings;
/// whatever was read before them is kept.
pub(crate) fn parse_archive(
    path: &str,
    bytes: &[u8],
    limits: &Limits,
) -> FileParse<Vec<MavenRecord>> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut budget = limits.max_archive_inflated_bytes;
    let file_name = path.rsplit('/').next().unwrap_or(path);
    walk(
        bytes,
        file_name,
        "",
        0,
        limits,
        &mut budget,
        &mut out,
        &mut warnings,
    );
    FileParse::new(out, warnings)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    bytes: &[u8],
    file_name: &str,
    inner_path: &str,
    depth: usize,
    limits: &Limits,
    budget: &mut u64,
    out: &mut Vec<MavenRecord>,
    warnings: &mut Vec<String>,
) {
    let where_ = if inner_path.is_empty() {
        String::new()
    } else {
        format!(" (nested archive {inner_path})")
    };
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => {
            warnings.push(format!("not a readable zip archive{where_}: {e}"));
            return;
        }
    };
    if zip.len() > limits.max_archive_entries {
        warnings.push(format!(
            "archive{where_} has {} entries, more than the limit of {}; not read",
            zip.len(),
            limits.max_archive_entries
        ));
        return;
    }
    let mut found_pom = false;
    let mut manifest: Option<String> = None;
    let mut nested: Vec<usize> = Vec::new();
    for i in 0..zip.len() {
        let Some(Ok(name)) = zip.name_for_index(i) else {
            continue;
        };
        let name = name.into_owned();
        let is_pom = name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties");
        let is_manifest = name.eq_ignore_ascii_case("META-INF/MANIFEST.MF");
        let lower = name.to_ascii_lowercase();
        let is_nested = [".jar", ".war", ".ear", ".jpi", ".hpi"]
            .iter()
            .any(|ext| lower.ends_with(ext));
        if is_nested {
            nested.push(i);
            continue;
        }
        if !is_pom && !is_manifest {
            continue;
        }
        let text = match read_entry(&mut zip, i, limits.max_metadata_bytes.min(1 << 20), budget) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                warnings.push(format!("{name}{where_}: {e}"));
                if *budget == 0 {
                    return;
                }
                continue;
            }
        };
        if is_manifest {
            manifest = Some(text);
            continue;
        }
        let props = properties(&text);
        let get = |k: &str| {
            props
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        match (get("groupId"), get("artifactId"), get("version")) {
            (Some(g), Some(a), Some(v)) if !a.is_empty() && !v.is_empty() => {
                found_pom = true;
                out.push(MavenRecord {
                    fingerprint: fingerprint(format!("{g}:{a}:{v}:{inner_path}").as_bytes()),
                    group: g,
                    artifact: a,
                    version: v,
                    inner_path: inner_path.to_owned(),
                });
            }
            _ => warnings.push(format!(
                "{name}{where_} lacks groupId, artifactId or version"
            )),
        }
    }
    if !found_pom
        && let Some(record) = manifest
            .as_deref()
            .and_then(|m| from_manifest(m, file_name, inner_path))
    {
        out.push(record);
    }
    if depth >= limits.max_archive_depth {
        if !nested.is_empty() {
            warnings.push(format!(
                "archives nested deeper than {} levels{where_} were not read",
                limits.max_archive_depth
            ));
        }
        return;
    }
    for i in nested {
        let name = match zip.name_for_index(i) {
            Some(Ok(n)) => n.into_owned(),
            _ => continue,
        };
        match read_entry(&mut zip, i, limits.max_archive_bytes, budget) {
            Ok(inner) => {
                let child = if inner_path.is_empty() {
                    name.clone()
                } else {
                    format!("{inner_path}!/{name}")
                };
                let base = name.rsplit('/').next().unwrap_or(&name).to_owned();
                walk(
                    &inner,
                    &base,
                    &child,
                    depth + 1,
                    limits,
                    budget,
                    out,
                    warnings,
                );
            }
            Err(e) => {
                warnings.push(format!("{name}{where_}: {e}"));
                if *budget == 0 {
                    return;
                }
            }
        }
    }
}

/// Inflates one entry, refusing more than `limit` bytes and charging the archive's budget.
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    limit: u64,
    budget: &mut u64,
) -> Result<Vec<u8>, String> {
    let entry = zip
        .by_index(index)
        .map_err(|e| format!("unreadable entry: {e}"))?;
    let cap = limit.min(*budget);
    let mut out = Vec::new();
    entry
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt entry: {e}"))?;
    let used = out.len() as u64;
    *budget = budget.saturating_sub(used);
    if used > cap {
        *budget = if cap < limit { 0 } else { *budget };
        return Err(format!(
            "inflates to more than {cap} bytes (entry limit {limit}); skipped as a possible zip bomb"
        ));
    }
    Ok(out)
}

/// `key=value` / `key: value` lines of a Java properties file (comments and blank lines
/// skipped; escapes are rare in pom.properties and kept literally).
fn properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_owned(), l[at + 1..].trim().to_owned()))
        })
        .collect()
}

/// The manifest's main attributes (continuation lines start with one space).
fn manifest_attributes(text: &str) -> Vec<(String, String)> {
    let mut attrs: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break; // end of the main section
        }
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some(last) = attrs.last_mut() {
                last.1.push_str(cont);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            attrs.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    attrs
}

fn from_manifest(text: &str, file_name: &str, inner_path: &str) -> Option<MavenRecord> {
    let attrs = manifest_attributes(text);
    let get = |k: &str| {
        attrs
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let (stem_name, stem_version) = split_file_name(file_name);
    let symbolic = get("Bundle-SymbolicName").map(|s| s.split(';').next().unwrap_or(s).trim());
    let artifact = get("Implementation-Title")
        .filter(|t| !t.contains(' '))
        .or(stem_name.as_deref())
        .or(symbolic)?
        .to_owned();
    let version = get("Implementation-Version")
        .or(get("Bundle-Version"))
        .or(stem_version.as_deref())?
        .to_owned();
    let group = get("Implementation-Vendor-Id")
        .map(str::to_owned)
        .or_else(|| {
            symbolic
                .and_then(|s| s.strip_suffix(&format!(".{artifact}")))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Some(MavenRecord {
        fingerprint: fingerprint(format!("{group}:{artifact}:{version}:{inner_path}").as_bytes()),
        group,
        artifact,
        version,
        inner_path: inner_path.to_owned(),
    })
}

/// `commons-io-2.11.0.jar` → (`commons-io`, `2.11.0`).
fn split_file_name(file_name: &str) -> (Option<String>, Option<String>) {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    let bytes = stem.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return (Some(stem[..i].to_owned()), Some(stem[i + 1..].to_owned()));
        }
    }
    (Some(stem.to_owned()).filter(|s| !s.is_empty()), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    pub(crate) fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    // pom.properties as maven-archiver 3.5 writes it (slf4j-api 1.7.36).
    const POM: &[u8] = b"#Created by Apache Maven 3.8.4\nversion=1.7.36\ngroupId=org.slf4j\nartifactId=slf4j-api\n";

    #[test]
    fn reads_pom_properties_and_nested_archives() {
        let inner = jar(&[("META-INF/maven/org.slf4j/slf4j-api/pom.properties", POM)]);
        let war = jar(&[
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nImplementation-Title: shop\r\nImplementation-Version: 3.1\r\n\r\n"),
            ("WEB-INF/lib/slf4j-api-1.7.36.jar", &inner),
        ]);
        let parsed = parse_archive("srv/shop.war", &war, &Limits::default());
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let got: Vec<_> = parsed
            .value
            .iter()
            .map(|r| {
                (
                    r.group.as_str(),
                    r.artifact.as_str(),
                    r.version.as_str(),
                    r.inner_path.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("", "shop", "3.1", ""),
                (
                    "org.slf4j",
                    "slf4j-api",
                    "1.7.36",
                    "WEB-INF/lib/slf4j-api-1.7.36.jar"
                ),
            ]
        );
    }

    #[test]
    fn manifest_fallback_uses_bundle_headers_and_the_file_name() {
        let osgi = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nBundle-SymbolicName: org.apache.commons.commons-io;singleton:=true\nBundle-Version: 2.11.0\n",
        )]);
        let r = parse_archive("lib/commons-io-2.11.0.jar", &osgi, &Limits::default()).value;
        assert_eq!(
            (
                r[0].group.as_str(),
                r[0].artifact.as_str(),
                r[0].version.as_str()
            ),
            ("org.apache.commons", "commons-io", "2.11.0")
        );
        assert_eq!(
            split_file_name("guava-31.1-jre.jar"),
            (Some("guava".into()), Some("31.1-jre".into()))
        );
    }

    #[test]
    fn zip_bombs_and_garbage_are_warnings() {
        let bomb_entry = vec![0u8; 8 << 20];
        let bomb = jar(&[("META-INF/maven/a/b/pom.properties", &bomb_entry)]);
        assert!(bomb.len() < 100_000, "the test bomb compresses well");
        let limits = Limits {
            max_archive_inflated_bytes: 1 << 20,
            ..Limits::default()
        };
        let parsed = parse_archive("x.jar", &bomb, &limits);
        assert!(parsed.value.is_empty());
        assert!(
            parsed.warnings[0].contains("zip bomb"),
            "{:?}",
            parsed.warnings
        );

        let nested_bomb = jar(&[
            ("lib/inner.jar", &jar(&[("big.bin", &bomb_entry)])),
            ("META-INF/maven/g/a/pom.properties", POM),
        ]);
        let parsed = parse_archive("x.jar", &nested_bomb, &limits);
        assert_eq!(parsed.value.len(), 1);

        let parsed = parse_archive("x.jar", b"PK\x03\x04 not really", &Limits::default());
        assert!(parsed.value.is_empty());
        assert_eq!(parsed.warnings.len(), 1);

        // A quine-like chain deeper than the depth limit stops with a warning.
        let mut deep = jar(&[("META-INF/maven/g/a/pom.properties", POM)]);
        for _ in 0..6 {
            deep = jar(&[("x.jar", &deep)]);
        }
        let parsed = parse_archive("deep.jar", &deep, &Limits::default());
        assert!(parsed.value.is_empty());
        assert!(parsed.warnings.iter().any(|w| w.contains("nested deeper")));
    }
}
