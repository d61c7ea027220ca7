//! Alpine apk version ordering.
//!
//! No maintained pure-Rust crate implements it (the `apk-version` crate binds C), so this
//! follows the grammar and comparison of current apk-tools (`src/version.c`, the
//! token-state implementation): `digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}`.
//!
//! - the first number and `-rN` revisions compare numerically;
//! - a later dotted number compares numerically, unless either side has a leading zero, when
//!   the digit strings compare bytewise (Gentoo's rule: `1.01 < 1.1`, `8.2.0015 < 8.2.002`);
//! - suffixes order `_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p`;
//! - when one version runs out first, the other is newer, unless what it continues with is
//!   a pre-release suffix (`1.0_rc1 < 1.0 < 1.0-r1 < 1.0_p1`).
//!
//! Strings apk's `apk_version_validate` refuses (`1.0bc`, `1.0-1`, unknown suffixes) are
//! refused here too, so a component with such a version is reported as unevaluated rather
//! than ordered by a guess.

use std::cmp::Ordering;

/// Token kinds in apk's order: a version that continues with a later kind where the other
/// ends is the lesser one (after the pre-release suffix exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
}

/// apk's suffix values; `NONE` is the pivot between pre- and post-release suffixes.
const SUFFIXES: [&str; 11] = [
    "", "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
const SUFFIX_NONE: usize = 5;

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// Numeric value (numbers, revision), suffix index (suffixes) or byte (letters).
    number: u64,
    /// The token's text, for the bytewise comparisons (leading zeros, commit hashes).
    text: String,
}

/// A parsed apk version.
#[derive(Debug, Clone)]
pub struct ApkVersion {
    tokens: Vec<Token>,
}

impl ApkVersion {
    /// Tokenizes `s`, refusing what apk-tools' validator refuses and numbers that overflow
    /// 64 bits.
    pub(crate) fn parse(s: &str) -> Result<ApkVersion, String> {
        let b = s.as_bytes();
        let mut pos = 0usize;
        let mut tokens = Vec::new();
        let first = digits(b, &mut pos)?;
        tokens.push(Token {
            kind: Kind::InitialDigit,
            number: first.0,
            text: first.1,
        });
        while pos < b.len() {
            let prev = tokens.last().map_or(Kind::InitialDigit, |t| t.kind);
            let c = b[pos];
            let token = match c {
                b'a'..=b'z' => {
                    if prev > Kind::Digit {
                        return Err(bad("letter out of place", pos));
                    }
                    pos += 1;
                    Token {
                        kind: Kind::Letter,
                        number: u64::from(c),
                        text: (c as char).to_string(),
                    }
                }
                b'.' | b'0'..=b'9' => {
                    if c == b'.' {
                        if prev > Kind::Digit {
                            return Err(bad("dot out of place", pos));
                        }
                        pos += 1;
                    }
                    let kind = match prev {
                        Kind::InitialDigit | Kind::Digit => Kind::Digit,
                        Kind::Suffix => Kind::SuffixNo,
                        _ => return Err(bad("number out of place", pos)),
                    };
                    let (number, text) = digits(b, &mut pos)?;
                    Token { kind, number, text }
                }
                b'_' => {
                    if prev > Kind::SuffixNo {
                        return Err(bad("suffix out of place", pos));
                    }
                    pos += 1;
                    let start = pos;
                    while pos < b.len() && b[pos].is_ascii_lowercase() {
                        pos += 1;
                    }
                    let word = &s[start..pos];
                    let index = SUFFIXES
                        .iter()
                        .position(|k| !k.is_empty() && *k == word)
                        .ok_or_else(|| format!("unknown suffix {word:?}"))?;
                    Token {
                        kind: Kind::Suffix,
                        number: index as u64,
                        text: word.to_owned(),
                    }
                }
                b'~' => {
                    if prev >= Kind::CommitHash {
                        return Err(bad("commit hash out of place", pos));
                    }
                    pos += 1;
                    let start = pos;
                    while pos < b.len() && b[pos].is_ascii_hexdigit() {
                        pos += 1;
                    }
                    if pos == start {
                        return Err(bad("empty commit hash", pos));
                    }
                    Token {
                        kind: Kind::CommitHash,
                        number: 0,
                        text: s[start..pos].to_owned(),
                    }
                }
                b'-' => {
                    if prev >= Kind::RevisionNo || b.get(pos + 1) != Some(&b'r') {
                        return Err(bad("'-' not starting a -rN revision", pos));
                    }
                    pos += 2;
                    let (number, text) = digits(b, &mut pos)?;
                    Token {
                        kind: Kind::RevisionNo,
                        number,
                        text,
                    }
                }
                _ => return Err(bad("unexpected character", pos)),
            };
            tokens.push(token);
        }
        Ok(ApkVersion { tokens })
    }

    fn kind_at(&self, i: usize) -> Kind {
        self.tokens.get(i).map_or(Kind::End, |t| t.kind)
    }
}

fn bad(what: &str, pos: usize) -> String {
    format!("{what} at byte {pos}")
}

/// Reads a non-empty run of digits.
fn digits(b: &[u8], pos: &mut usize) -> Result<(u64, String), String> {
    let start = *pos;
    let mut n: u64 = 0;
    while *pos < b.len() && b[*pos].is_ascii_digit() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b[*pos] - b'0')))
            .ok_or_else(|| format!("number too large at byte {start}"))?;
        *pos += 1;
    }
    if *pos == start {
        return Err(format!("expected a number at byte {start}"));
    }
    Ok((n, String::from_utf8_lossy(&b[start..*pos]).into_owned()))
}

/// apk's `token_cmp` for two tokens of the same kind.
fn token_cmp(a: &Token, b: &Token) -> Ordering {
    match a.kind {
        Kind::Digit if a.text.starts_with('0') || b.text.starts_with('0') => {
            a.text.as_bytes().cmp(b.text.as_bytes())
        }
        Kind::CommitHash => a.text.as_bytes().cmp(b.text.as_bytes()),
        _ => a.number.cmp(&b.number),
    }
}

impl Ord for ApkVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let mut i = 0;
        while let (Some(a), Some(b)) = (self.tokens.get(i), other.tokens.get(i)) {
            if a.kind != b.kind {
                break;
            }
            match token_cmp(a, b) {
                Ordering::Equal => i += 1,
                o => return o,
            }
        }
        let (at, bt) = (self.kind_at(i), other.kind_at(i));
        if at == bt {
            return Ordering::Equal;
        }
        let pre_release = |v: &ApkVersion| {
            v.tokens
                .get(i)
                .is_some_and(|t| t.kind == Kind::Suffix && (t.number as usize) < SUFFIX_NONE)
        };
        if pre_release(self) {
            return Ordering::Less;
        }
        if pre_release(other) {
            return Ordering::Greater;
        }
        // The one that continues with a later kind (up to the end) is the lesser.
        bt.cmp(&at)
    }
}

impl PartialOrd for ApkVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for ApkVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for ApkVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> ApkVersion {
        ApkVersion::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Pairs from apk-tools' own test data (alpinelinux/apk-tools `test/version.data`),
    /// which its test suite checks with `apk version -t`.
    #[test]
    fn orders_like_apk_tools_test_data() {
        let cases = [
            ("2.34", '>', "0.1.0_alpha"),
            ("0.1.0_alpha", '=', "0.1.0_alpha"),
            ("0.1.0_alpha2", '>', "0.1.0_alpha"),
            ("1.0.4-r3", '<', "1.0.4-r4"),
            ("1.1", '>', "1.1_alpha1"),
            ("1.2.1", '>', "1.2"),
            ("0.12.3", '>', "0.12"),
            ("2.3.0b-r1", '<', "2.3.0b-r2"),
            ("1.06-r6", '<', "006"),
            ("1.2.2-r1", '>', "1.2.2"),
            ("3.1_p16", '<', "3.1_p17"),
            ("2.01.01_alpha10", '>', "0.94"),
            ("1.0", '>', "0.99.3.20040818"),
            ("20040401", '>', "2.0.0_rc3-r1"),
            ("3.9_pre20060124", '>', "0.01"),
            ("0.10.0-r1", '>', "0.10.0"),
            ("0.10.0", '<', "0.10.1_rc1"),
            ("2.5.1-r8", '<', "2.5.1a-r1"),
            ("4.5_p1-r1", '>', "4.5_p1"),
            ("1.8.5", '<', "1.8.5_p2"),
            ("1.2.07.8", '<', "1.2.12.04"),
            ("0.9.28.1", '<', "087-r1"),
            ("7.0.17", '<', "7.0.174"),
            ("1.3_pre1-r1", '<', "1.3.2"),
            ("1.0_p10-r0", '>', "1.0_p9-r0"),
            ("0.1.0_alpha_pre2", '<', "0.1.0_alpha"),
            ("8.2.0015", '<', "8.2.002"),
            (
                "1.0.0_pre20191002222144-r0",
                '<',
                "1.0.0_pre20210530193627-r0",
            ),
        ];
        for (a, op, b) in cases {
            let want = match op {
                '<' => Ordering::Less,
                '>' => Ordering::Greater,
                _ => Ordering::Equal,
            };
            assert_eq!(v(a).cmp(&v(b)), want, "{a} {op} {b}");
            assert_eq!(v(b).cmp(&v(a)), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn revision_and_patch_suffix_traps() {
        assert!(v("1.0") < v("1.0-r1"));
        assert!(v("1.0-r1") < v("1.0_p1"));
        assert!(v("1.0_rc1") < v("1.0"));
        assert!(v("1.0_rc1-r5") < v("1.0-r0"));
        assert!(v("3.0_rc2-r0") < v("3.0-r0"));
        assert!(v("1.01") < v("1.1"));
        assert_eq!(v("1.0-r0"), v("1.0-r0"));
        assert!(v("3.1.4-r5") < v("3.1.4-r10"));
        assert!(v("1.2.3~abc1-r0") < v("1.2.3~abc2-r0"));
    }

    #[test]
    fn refuses_what_apk_refuses() {
        for bad in [
            "1.0bc",
            "23_foo",
            "1.0-1",
            "1.0a.1",
            "1.0a1",
            "1.0_rc.1",
            "1.0+b1",
            "1.0 ",
            "a1",
            "1.",
            "1.0-r",
            "99999999999999999999",
        ] {
            assert!(ApkVersion::parse(bad).is_err(), "{bad} must be refused");
        }
    }
}
