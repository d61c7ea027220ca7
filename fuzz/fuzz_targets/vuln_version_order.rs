//! Version parsing and ordering per ecosystem: no panics, and the order is consistent:
//! `a < b` exactly when `b > a`, equality is symmetric, and (for every scheme but Maven,
//! whose `ComparableVersion` is not transitive on degenerate strings) `a <= b <= c` implies
//! `a <= c`.
#![no_main]

use custody_vuln::version::{Version, VersionScheme};
use libfuzzer_sys::fuzz_target;

const SCHEMES: [VersionScheme; 7] = [
    VersionScheme::Dpkg,
    VersionScheme::Apk,
    VersionScheme::Pep440,
    VersionScheme::Npm,
    VersionScheme::Cargo,
    VersionScheme::Go,
    VersionScheme::Maven,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let scheme = SCHEMES[selector as usize % SCHEMES.len()];
    let text = String::from_utf8_lossy(rest);
    let versions: Vec<Version> = text.split('\n').take(3).filter_map(|s| Version::parse(scheme, s).ok()).collect();
    for a in &versions {
        assert_eq!(a.cmp(a), std::cmp::Ordering::Equal, "{a} != itself");
        for b in &versions {
            assert_eq!(a.cmp(b), b.cmp(a).reverse(), "{scheme}: {a} vs {b} is not antisymmetric");
            assert_eq!(a == b, b == a);
            if scheme != VersionScheme::Maven {
                for c in &versions {
                    if a <= b && b <= c {
                        assert!(a <= c, "{scheme}: {a} <= {b} <= {c} but not {a} <= {c}");
                    }
                }
            }
        }
    }
});
