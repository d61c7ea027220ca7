//! Package URLs, built with the `packageurl` crate per the purl specification's rules for
//! each type (which also does the percent-encoding: a dpkg epoch `1:2.3` becomes `1%3A2.3`).

use packageurl::PackageUrl;

/// Builds a purl; `None` if the parts are not valid for the type (reported by the caller as
/// a warning: a component without a valid purl is left out rather than written wrong).
pub(crate) fn build(
    ty: &str,
    namespace: Option<&str>,
    name: &str,
    version: Option<&str>,
    qualifiers: &[(&str, &str)],
    subpath: Option<&str>,
) -> Option<String> {
    let mut purl = PackageUrl::new(ty, name).ok()?;
    if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
        purl.with_namespace(ns).ok()?;
    }
    if let Some(v) = version.filter(|v| !v.is_empty()) {
        purl.with_version(v).ok()?;
    }
    for (k, v) in qualifiers {
        if !v.is_empty() {
            purl.add_qualifier(*k, *v).ok()?;
        }
    }
    if let Some(s) = subpath.filter(|s| !s.is_empty()) {
        purl.with_subpath(s).ok()?;
    }
    Some(purl.to_string())
}

/// `pkg:deb/debian/libssl3@3.0.20-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl`.
pub(crate) fn deb(
    distro_id: &str,
    distro: &str,
    name: &str,
    version: &str,
    arch: &str,
    upstream: Option<&str>,
) -> Option<String> {
    let mut q = vec![("arch", arch), ("distro", distro)];
    if let Some(u) = upstream {
        q.push(("upstream", u));
    }
    build("deb", Some(distro_id), name, Some(version), &q, None)
}

/// `pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25&epoch=1`.
pub(crate) fn rpm(
    distro_id: &str,
    distro: &str,
    name: &str,
    version_release: &str,
    arch: &str,
    epoch: Option<u32>,
) -> Option<String> {
    let epoch = epoch.map(|e| e.to_string());
    let mut q = vec![("arch", arch), ("distro", distro)];
    if let Some(e) = epoch.as_deref() {
        q.push(("epoch", e));
    }
    build(
        "rpm",
        Some(distro_id),
        name,
        Some(version_release),
        &q,
        None,
    )
}

/// `pkg:golang/github.com/x/y@v1.2.3`: the module path split at its last `/`.
pub(crate) fn golang(module_path: &str, version: &str) -> Option<String> {
    match module_path.rsplit_once('/') {
        Some((ns, name)) => build("golang", Some(ns), name, Some(version), &[], None),
        None => build("golang", None, module_path, Some(version), &[], None),
    }
}

/// `pkg:npm/%40scope/name@1.0.0` (scope is the namespace, `@` encoded by the crate).
pub(crate) fn npm(name: &str, version: &str) -> Option<String> {
    match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, bare)) => build(
            "npm",
            Some(&format!("@{scope}")),
            bare,
            Some(version),
            &[],
            None,
        ),
        None => build("npm", None, name, Some(version), &[], None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_purls_follow_the_spec() {
        assert_eq!(
            deb(
                "debian",
                "debian-12",
                "libssl3",
                "3.0.20-1~deb12u2",
                "amd64",
                Some("openssl")
            )
            .unwrap(),
            "pkg:deb/debian/libssl3@3.0.20-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
        );
        assert_eq!(
            deb(
                "debian",
                "debian-12",
                "libpam-runtime",
                "1:1.5.2-6+deb12u1",
                "all",
                None
            )
            .unwrap(),
            "pkg:deb/debian/libpam-runtime@1:1.5.2-6%2Bdeb12u1?arch=all&distro=debian-12"
        );
    }

    #[test]
    fn other_types() {
        assert_eq!(
            rpm(
                "fedora",
                "fedora-40",
                "curl",
                "8.6.0-7.fc40",
                "x86_64",
                Some(1)
            )
            .unwrap(),
            "pkg:rpm/fedora/curl@8.6.0-7.fc40?arch=x86_64&distro=fedora-40&epoch=1"
        );
        assert_eq!(
            golang("github.com/spf13/cobra", "v1.8.0").unwrap(),
            "pkg:golang/github.com/spf13/cobra@v1.8.0"
        );
        assert_eq!(
            golang("stdlib", "go1.22.1").unwrap(),
            "pkg:golang/stdlib@go1.22.1"
        );
        assert_eq!(
            npm("@types/node", "20.1.0").unwrap(),
            "pkg:npm/%40types/node@20.1.0"
        );
        assert_eq!(npm("Express", "4.21.2").unwrap(), "pkg:npm/express@4.21.2");
        assert_eq!(
            build("pypi", None, "Charset_Normalizer", Some("3.4.0"), &[], None).unwrap(),
            "pkg:pypi/charset-normalizer@3.4.0"
        );
        assert_eq!(
            build(
                "maven",
                Some("org.slf4j"),
                "slf4j-api",
                Some("1.7.36"),
                &[],
                None
            )
            .unwrap(),
            "pkg:maven/org.slf4j/slf4j-api@1.7.36"
        );
        assert!(build("deb", None, "", Some("1"), &[], None).is_none());
    }
}
