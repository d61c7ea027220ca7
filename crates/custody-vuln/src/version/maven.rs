//! Maven version ordering: `org.apache.maven.artifact.versioning.ComparableVersion` as
//! released in Maven 3.9.x (the POM reference's "version order specification").
//!
//! No maintained Rust crate implements it (the one crates.io candidate is an unreviewed
//! 0.1.0 with no repository), so this is a port of the algorithm, tested with the vectors of
//! Maven's own `ComparableVersionTest` (maven-3.9.11). In short: a version splits into
//! numbers and qualifiers at `.`, `-` and digit/letter transitions; a `-` or a transition
//! opens a sub-list; trailing "null" items (`0`, `""`, `ga`, `final`, `release`) are dropped;
//! qualifiers order `alpha < beta < milestone < rc = cr < snapshot < "" = ga = final =
//! release < sp < unknown (lexically)`, `a1`/`b1`/`m1` abbreviate alpha/beta/milestone.
//!
//! Deliberate differences from the Java code, none of which change real-world versions:
//! digits are ASCII only (Java's `Character.isDigit` also accepts other scripts' digits),
//! and lowercasing is Unicode's rather than `Locale.ENGLISH`'s. Maven's ordering is not
//! transitive on degenerate strings (`"" < "a" < "0a0" < ""`); it is antisymmetric, and
//! custody never sorts with it (see the range evaluation), so the cycle cannot panic a sort.

use std::cmp::Ordering;

/// A parsed Maven version.
#[derive(Debug, Clone)]
pub struct MavenVersion {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    Num(Num),
    Str(String),
    List(Vec<Item>),
}

/// A numeric item. Java stores it as an `int`, `long` or `BigInteger` by its digit count
/// (after stripping leading zeros), and items of different widths compare by width alone,
/// whatever their values; that quirk is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Num {
    width: u8,
    /// The value's digits without leading zeros ("" for zero).
    digits: String,
}

impl Num {
    fn parse(buf: &str) -> Num {
        // Maven's stripLeadingZeroes: an all-zero string is kept whole (and so its width is
        // its length), an empty one becomes "0".
        let stripped = match buf.find(|c| c != '0') {
            Some(i) => &buf[i..],
            None if buf.is_empty() => "0",
            None => buf,
        };
        let width = match stripped.len() {
            0..=9 => 0,
            10..=18 => 1,
            _ => 2,
        };
        Num {
            width,
            digits: stripped.trim_start_matches('0').to_owned(),
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.width
            .cmp(&other.width)
            .then(self.digits.len().cmp(&other.digits.len()))
            .then_with(|| self.digits.cmp(&other.digits))
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE_INDEX: usize = 5;

/// Java's `StringItem` constructor: abbreviations, then aliases.
fn qualifier(value: &str, followed_by_digit: bool) -> String {
    let value = match (followed_by_digit, value) {
        (true, "a") => "alpha",
        (true, "b") => "beta",
        (true, "m") => "milestone",
        (_, v) => v,
    };
    match value {
        "ga" | "final" | "release" => String::new(),
        "cr" => "rc".to_owned(),
        v => v.to_owned(),
    }
}

/// `comparableQualifier`: known qualifiers by index, unknown ones after them, lexically.
fn comparable(q: &str) -> (usize, &str) {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => (i, ""),
        None => (QUALIFIERS.len(), q),
    }
}

fn is_null(item: &Item) -> bool {
    match item {
        Item::Num(n) => n.is_zero(),
        Item::Str(s) => s.is_empty(),
        Item::List(l) => l.is_empty(),
    }
}

/// `item.compareTo(other)`, where `None` is Java's `null` (padding of a shorter list).
fn cmp_item(a: &Item, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (Item::Num(n), None) => {
            if n.is_zero() {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (Item::Num(n), Some(Item::Num(m))) => n.cmp(m),
        (Item::Num(_), Some(_)) => Ordering::Greater,
        (Item::Str(s), None) => comparable(s).cmp(&(RELEASE_INDEX, "")),
        (Item::Str(_), Some(Item::Num(_) | Item::List(_))) => Ordering::Less,
        (Item::Str(s), Some(Item::Str(t))) => comparable(s).cmp(&comparable(t)),
        (Item::List(l), None) => l
            .iter()
            .map(|i| cmp_item(i, None))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal),
        (Item::List(_), Some(Item::Num(_))) => Ordering::Less,
        (Item::List(_), Some(Item::Str(_))) => Ordering::Greater,
        (Item::List(l), Some(Item::List(m))) => cmp_lists(l, m),
    }
}

fn cmp_lists(l: &[Item], m: &[Item]) -> Ordering {
    for i in 0..l.len().max(m.len()) {
        let o = match (l.get(i), m.get(i)) {
            (None, None) => Ordering::Equal,
            (None, Some(r)) => cmp_item(r, None).reverse(),
            (Some(x), r) => cmp_item(x, r),
        };
        if o.is_ne() {
            return o;
        }
    }
    Ordering::Equal
}

/// Items of one list while parsing; `Sub(i)` refers to list `i` of the arena. Every new
/// list is appended to the current one and becomes current, so the lists form a chain and
/// list `i + 1` is always nested in list `i`.
enum Slot {
    Item(Item),
    Sub(usize),
}

impl MavenVersion {
    /// Parses a version string; every string parses (as in Maven), except ones too long for
    /// custody's bounds, which `Version::parse` refuses before getting here.
    pub(crate) fn parse(version: &str) -> Result<MavenVersion, String> {
        let chars: Vec<char> = version.to_lowercase().chars().collect();
        let mut arena: Vec<Vec<Slot>> = vec![Vec::new()];
        let mut cur = 0usize;
        let mut is_digit = false;
        let mut start = 0usize;

        fn open(arena: &mut Vec<Vec<Slot>>, cur: &mut usize) {
            arena.push(Vec::new());
            let new = arena.len() - 1;
            arena[*cur].push(Slot::Sub(new));
            *cur = new;
        }
        let text = |a: usize, b: usize| -> String { chars[a..b].iter().collect() };
        let parse_item = |digit: bool, buf: String| -> Item {
            if digit {
                Item::Num(Num::parse(&buf))
            } else {
                Item::Str(qualifier(&buf, false))
            }
        };

        for (i, &c) in chars.iter().enumerate() {
            if c == '.' || c == '-' {
                let item = if i == start {
                    Item::Num(Num::parse("0"))
                } else {
                    parse_item(is_digit, text(start, i))
                };
                arena[cur].push(Slot::Item(item));
                start = i + 1;
                if c == '-' {
                    open(&mut arena, &mut cur);
                }
            } else if c.is_ascii_digit() {
                if !is_digit && i > start {
                    // 1.0.0.X1 < 1.0.0-X2: a qualifier after a dot opens a list like a dash.
                    if !arena[cur].is_empty() {
                        open(&mut arena, &mut cur);
                    }
                    arena[cur].push(Slot::Item(Item::Str(qualifier(&text(start, i), true))));
                    start = i;
                    open(&mut arena, &mut cur);
                }
                is_digit = true;
            } else {
                if is_digit && i > start {
                    arena[cur].push(Slot::Item(parse_item(true, text(start, i))));
                    start = i;
                    open(&mut arena, &mut cur);
                }
                is_digit = false;
            }
        }
        if chars.len() > start {
            if !is_digit && !arena[cur].is_empty() {
                open(&mut arena, &mut cur);
            }
            arena[cur].push(Slot::Item(parse_item(is_digit, text(start, chars.len()))));
        }

        // Normalize innermost first (Java pops its stack), then assemble the tree.
        let mut built: Vec<Option<Vec<Item>>> = (0..arena.len()).map(|_| None).collect();
        for li in (0..arena.len()).rev() {
            let slots = std::mem::take(&mut arena[li]);
            let mut items: Vec<Item> = Vec::with_capacity(slots.len());
            for slot in slots {
                items.push(match slot {
                    Slot::Item(item) => item,
                    Slot::Sub(j) => Item::List(built[j].take().unwrap_or_default()),
                });
            }
            // Drop trailing nulls; stop at the first non-null item that is not a list.
            let mut i = items.len();
            while i > 0 {
                i -= 1;
                if is_null(&items[i]) {
                    items.remove(i);
                } else if !matches!(items[i], Item::List(_)) {
                    break;
                }
            }
            built[li] = Some(items);
        }
        Ok(MavenVersion {
            items: built[0].take().unwrap_or_default(),
        })
    }

    /// Maven's canonical form (`ComparableVersion.getCanonical()`), for messages and tests.
    pub fn canonical(&self) -> String {
        fn render(items: &[Item], out: &mut String) {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(if matches!(item, Item::List(_)) {
                        '-'
                    } else {
                        '.'
                    });
                }
                match item {
                    Item::Num(n) if n.is_zero() => out.push('0'),
                    Item::Num(n) => out.push_str(&n.digits),
                    Item::Str(s) => out.push_str(s),
                    Item::List(l) => render(l, out),
                }
            }
        }
        let mut out = String::new();
        render(&self.items, &mut out);
        out
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MavenVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MavenVersion {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MavenVersion {
        MavenVersion::parse(s).unwrap()
    }

    fn ordered(low: &str, high: &str) {
        assert_eq!(
            v(low).cmp(&v(high)),
            Ordering::Less,
            "expected {low} < {high}"
        );
        assert_eq!(
            v(high).cmp(&v(low)),
            Ordering::Greater,
            "expected {high} > {low}"
        );
    }

    fn equal(a: &str, b: &str) {
        assert_eq!(v(a).cmp(&v(b)), Ordering::Equal, "expected {a} == {b}");
        assert_eq!(v(b).cmp(&v(a)), Ordering::Equal, "expected {b} == {a}");
    }

    // The lists and pairs below are Maven's ComparableVersionTest (apache/maven, tag
    // maven-3.9.11, maven-artifact/src/test/java/.../ComparableVersionTest.java).
    const VERSIONS_QUALIFIER: [&str; 22] = [
        "1-alpha2snapshot",
        "1-alpha2",
        "1-alpha-123",
        "1-beta-2",
        "1-beta123",
        "1-m2",
        "1-m11",
        "1-rc",
        "1-cr2",
        "1-rc123",
        "1-SNAPSHOT",
        "1",
        "1-sp",
        "1-sp2",
        "1-sp123",
        "1-abc",
        "1-def",
        "1-pom-1",
        "1-1-snapshot",
        "1-1",
        "1-2",
        "1-123",
    ];
    const VERSIONS_NUMBER: [&str; 24] = [
        "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
        "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11", "11",
        "11.a", "11b", "11c", "11m",
    ];

    #[test]
    fn test_versions_qualifier_and_number() {
        for list in [&VERSIONS_QUALIFIER[..], &VERSIONS_NUMBER[..]] {
            for i in 0..list.len() {
                for j in i + 1..list.len() {
                    ordered(list[i], list[j]);
                }
            }
        }
    }

    #[test]
    fn test_versions_equal() {
        for (a, b) in [
            ("1", "1"),
            ("1", "1.0"),
            ("1", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1", "1-0"),
            ("1", "1.0-0"),
            ("1.0", "1.0-0"),
            ("1a", "1-a"),
            ("1a", "1.0-a"),
            ("1a", "1.0.0-a"),
            ("1.0a", "1-a"),
            ("1.0.0a", "1-a"),
            ("1x", "1-x"),
            ("1x", "1.0-x"),
            ("1x", "1.0.0-x"),
            ("1.0x", "1-x"),
            ("1.0.0x", "1-x"),
            ("1ga", "1"),
            ("1release", "1"),
            ("1final", "1"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"),
            ("1X", "1x"),
            ("1A", "1a"),
            ("1B", "1b"),
            ("1M", "1m"),
            ("1Ga", "1"),
            ("1GA", "1"),
            ("1RELEASE", "1"),
            ("1RELeaSE", "1"),
            ("1Final", "1"),
            ("1FinaL", "1"),
            ("1FINAL", "1"),
            ("1Cr", "1Rc"),
            ("1cR", "1rC"),
            ("1m3", "1Milestone3"),
            ("1m3", "1MileStone3"),
            ("1m3", "1MILESTONE3"),
            (
                "1-abcdefghijklmnopqrstuvwxyz",
                "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            ),
        ] {
            equal(a, b);
        }
    }

    #[test]
    fn test_version_comparing_and_mng_regressions() {
        for (low, high) in [
            ("1", "2"),
            ("1.5", "2"),
            ("1", "2.5"),
            ("1.0", "1.1"),
            ("1.1", "1.2"),
            ("1.0.0", "1.1"),
            ("1.0.1", "1.1"),
            ("1.1", "1.2.0"),
            ("1.0-alpha-1", "1.0"),
            ("1.0-alpha-1", "1.0-alpha-2"),
            ("1.0-alpha-1", "1.0-beta-1"),
            ("1.0-beta-1", "1.0-SNAPSHOT"),
            ("1.0-SNAPSHOT", "1.0"),
            ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0-2"),
            ("1.0.0", "1.0-1"),
            ("2.0-1", "2.0.1"),
            ("2.0.1-klm", "2.0.1-lmn"),
            ("2.0.1", "2.0.1-xyz"),
            ("2.0.1", "2.0.1-123"),
            ("2.0.1-xyz", "2.0.1-123"),
            // MNG-5568
            ("6.1.0rc3", "6.1.0"),
            ("6.1.0rc3", "6.1H.5-beta"),
            ("6.1.0", "6.1H.5-beta"),
            // MNG-6572
            ("20190126.230843", "1234567890.12345"),
            ("1234567890.12345", "123456789012345.1H.5-beta"),
            (
                "123456789012345.1H.5-beta",
                "12345678901234567890.1H.5-beta",
            ),
            // MNG-6964
            ("1-0.alpha", "1"),
            ("1-0.beta", "1"),
            ("1-0.alpha", "1-0.beta"),
        ] {
            ordered(low, high);
        }
        // MNG-7644: a dot before a qualifier reads as a dash.
        for x in [
            "abc",
            "alpha",
            "a",
            "beta",
            "b",
            "def",
            "milestone",
            "m",
            "RC",
        ] {
            ordered(&format!("1.0.0.{x}1"), &format!("1.0.0-{x}2"));
            equal(&format!("2-{x}"), &format!("2.0.{x}"));
            equal(&format!("2-{x}"), &format!("2.0.0.{x}"));
        }
        // testVersionEqualWithLeadingZeroes / testVersionZeroEqualWithLeadingZeroes
        for len in 1..20 {
            equal(&format!("{:0>len$}", "1"), "1");
            equal(&format!("{:0>len$}", "0"), "0");
        }
    }

    #[test]
    fn the_issue_traps_and_canonical_forms() {
        ordered("1.0-alpha", "1.0-beta");
        ordered("1.0-beta", "1.0-rc");
        ordered("1.0-rc", "1.0-SNAPSHOT");
        ordered("1.0-SNAPSHOT", "1.0");
        ordered("1.0", "1.0-sp");
        equal("1.0.0", "1.0");
        equal("1.0", "1");
        equal("1.0-cr1", "1.0-rc1");
        for (version, canonical) in [
            ("1.0-sp1", "1-sp-1"),
            ("1.0.RELEASE", "1"),
            ("2.18.4", "2.18.4"),
        ] {
            assert_eq!(v(version).canonical(), canonical);
        }
        // Width beats value, as in Java: a ten-digit zero is a long and outranks any int.
        ordered("1.5.5", "1.0000000000.5");
    }
}
