//! Each ecosystem's ordering traps, through the public API.

use std::cmp::Ordering::{self, Equal, Greater, Less};

use custody_vuln::version::{VersionScheme, compare};

fn check(scheme: VersionScheme, cases: &[(&str, Ordering, &str)]) {
    for (a, want, b) in cases {
        assert_eq!(compare(scheme, a, b), Some(*want), "{scheme}: {a} vs {b}");
        assert_eq!(
            compare(scheme, b, a),
            Some(want.reverse()),
            "{scheme}: {b} vs {a}"
        );
    }
}

#[test]
fn dpkg_epochs_tildes_and_binnmus() {
    check(
        VersionScheme::Dpkg,
        &[
            ("1:1.0", Greater, "2.0"),
            ("1.0~rc1", Less, "1.0"),
            ("1.0~rc1", Greater, "1.0~beta1"),
            ("1.0.8-5", Less, "1.0.8-5+b1"),
            ("1.0.8-5+b1", Less, "1.0.8-5.1"),
            ("2.36-9+deb12u14", Greater, "2.36-9+deb12u9"),
            ("252.39-1~deb12u2", Less, "252.39-1"),
            ("1:4.13+dfsg1-1+deb12u2", Greater, "4.14"),
            ("1.0", Equal, "0:1.0-0"),
        ],
    );
}

#[test]
fn pep440_pre_post_dev_and_local_releases() {
    check(
        VersionScheme::Pep440,
        &[
            ("1.0.dev1", Less, "1.0a1"),
            ("1.0a1", Less, "1.0"),
            ("1.0", Less, "1.0.post1"),
            ("1.0a1.dev1", Less, "1.0a1"),
            ("1.0rc1", Less, "1.0"),
            ("1.0", Less, "1.0+ubuntu1"),
            ("2.0.0rc2", Less, "2.0.0"),
            ("1!0.1", Greater, "99.0"),
            ("1.0", Equal, "1.0.0"),
        ],
    );
}

#[test]
fn semver_prereleases_for_crates_and_npm() {
    for scheme in [VersionScheme::Cargo, VersionScheme::Npm] {
        check(
            scheme,
            &[
                ("1.0.0-alpha", Less, "1.0.0"),
                ("1.0.0-alpha", Less, "1.0.0-alpha.1"),
                ("1.0.0-alpha.beta", Less, "1.0.0-beta"),
                ("1.0.0-beta.2", Less, "1.0.0-beta.11"),
                ("1.0.0-rc.1", Less, "1.0.0"),
                ("2.1.1-0", Less, "2.1.1-beta.1"),
            ],
        );
    }
    // npm accepts the `v` spelling node-semver accepts; Cargo does not.
    check(VersionScheme::Npm, &[("v1.2.3", Equal, "1.2.3")]);
    assert_eq!(compare(VersionScheme::Cargo, "v1.2.3", "1.2.3"), None);
}

#[test]
fn go_pseudo_versions_and_incompatible() {
    check(
        VersionScheme::Go,
        &[
            (
                "v0.0.0-20191109021931-daa7c04131f5",
                Less,
                "v0.0.0-20200101000000-000000000000",
            ),
            ("v0.0.0-20191109021931-daa7c04131f5", Less, "v0.1.0"),
            ("v1.2.4-0.20210101000000-abcdefabcdef", Greater, "v1.2.3"),
            ("v1.2.4-0.20210101000000-abcdefabcdef", Less, "v1.2.4"),
            ("v2.0.0+incompatible", Equal, "2.0.0"),
            ("v1.6.0", Equal, "1.6.0"),
            ("go1.21rc2", Less, "1.21.0"),
        ],
    );
}

#[test]
fn maven_qualifiers_and_padding() {
    check(
        VersionScheme::Maven,
        &[
            ("1.0-alpha", Less, "1.0-beta"),
            ("1.0-beta", Less, "1.0-milestone"),
            ("1.0-milestone", Less, "1.0-rc"),
            ("1.0-rc", Equal, "1.0-cr"),
            ("1.0-rc", Less, "1.0-SNAPSHOT"),
            ("1.0-SNAPSHOT", Less, "1.0"),
            ("1.0", Equal, "1.0-ga"),
            ("1.0", Equal, "1.0.final"),
            ("1.0", Equal, "1.0-RELEASE"),
            ("1.0", Less, "1.0-sp"),
            ("1.0-sp", Less, "1.0-foo"),
            ("1.0.0", Equal, "1.0"),
            ("1.0", Equal, "1"),
            ("2.14.1", Less, "2.15.0"),
            ("2.15.0-rc1", Less, "2.15.0"),
        ],
    );
}

#[test]
fn alpine_revisions_and_suffixes() {
    check(
        VersionScheme::Apk,
        &[
            ("1.0-r0", Less, "1.0-r1"),
            ("1.0-r9", Less, "1.0-r10"),
            ("1.0_rc1", Less, "1.0"),
            ("1.0_alpha1", Less, "1.0_beta1"),
            ("1.0_pre1", Less, "1.0_rc1"),
            ("1.0-r5", Less, "1.0_p1"),
            ("1.0_p1", Less, "1.0_p2"),
            ("1.0.2p-r0", Less, "1.0.2q-r0"),
            ("3.1.4-r5", Less, "3.1.5-r0"),
        ],
    );
}
