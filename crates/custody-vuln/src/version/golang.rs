//! Go module versions as SemVer.
//!
//! Go writes module versions as `v` + SemVer 2.0, including pseudo-versions
//! (`v0.0.0-20191109021931-daa7c04131f5`, which are SemVer pre-releases and order by their
//! timestamp) and `+incompatible` (build metadata, ignored for precedence). OSV's Go records
//! drop the `v`. The standard library and toolchain (`stdlib`, `toolchain`) use Go's own
//! release names (`go1.21.0`, `go1.21rc2`, `go1.9`), which OSV writes as SemVer
//! (`1.21.0-rc.2`); both spellings are accepted here.

pub(super) fn parse(s: &str) -> Result<semver::Version, String> {
    let bare = s.strip_prefix('v').unwrap_or(s);
    if let Ok(v) = semver::Version::parse(bare) {
        return Ok(v);
    }
    s.strip_prefix("go")
        .and_then(toolchain_release)
        .and_then(|c| semver::Version::parse(&c).ok())
        .ok_or_else(|| "not a Go module version (vMAJOR.MINOR.PATCH) or Go release".to_owned())
}

/// `1.21`, `1.21.3`, `1.21rc2`, `1.9beta1` → `1.21.0`, `1.21.3`, `1.21.0-rc.2`, `1.9.0-beta.1`.
fn toolchain_release(s: &str) -> Option<String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (numbers, pre) = s.split_at(split);
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let part = |i: usize| parts.get(i).copied().unwrap_or("0");
    let mut out = format!("{}.{}.{}", part(0), part(1), part(2));
    if !pre.is_empty() {
        let kind = ["rc", "beta", "alpha"]
            .into_iter()
            .find(|k| pre.starts_with(k))?;
        let n = &pre[kind.len()..];
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push_str(&format!("-{kind}.{n}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_versions_order_before_their_release_and_by_time() {
        let a = parse("v0.0.0-20191109021931-daa7c04131f5").unwrap();
        let b = parse("v0.0.0-20200101000000-aaaaaaaaaaaa").unwrap();
        let r = parse("v0.1.0").unwrap();
        assert!(a.cmp_precedence(&b).is_lt());
        assert!(b.cmp_precedence(&r).is_lt());
        // A pseudo-version derived from a tag (vX.Y.(Z+1)-0.timestamp-hash) sorts after the tag.
        let tag = parse("v1.2.3").unwrap();
        let after = parse("v1.2.4-0.20210101000000-abcdefabcdef").unwrap();
        assert!(tag.cmp_precedence(&after).is_lt());
        assert!(after.cmp_precedence(&parse("v1.2.4").unwrap()).is_lt());
    }

    #[test]
    fn v_prefix_incompatible_and_toolchain_names() {
        assert_eq!(parse("v1.6.0").unwrap(), parse("1.6.0").unwrap());
        let inc = parse("v2.0.0+incompatible").unwrap();
        assert!(inc.cmp_precedence(&parse("2.0.0").unwrap()).is_eq());
        assert_eq!(parse("go1.21rc2").unwrap().to_string(), "1.21.0-rc.2");
        assert_eq!(parse("go1.9").unwrap().to_string(), "1.9.0");
        assert_eq!(parse("go1.21.3").unwrap().to_string(), "1.21.3");
        assert!(parse("go1.21rc2").unwrap() < parse("1.21.0").unwrap());
        assert!(parse("latest").is_err());
        assert!(parse("v1").is_err());
    }
}
