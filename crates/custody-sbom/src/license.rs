//! Declared licences to SPDX: each ecosystem's way of naming a licence, mapped to a valid
//! SPDX expression where that is unambiguous, and kept as a plain name where it is not.
//!
//! The `spdx` crate does the parsing and validation. Its "imprecise names" table is not used
//! (it maps `bsd` to BSD-2-Clause and `gnu gpl v2` to GPL-3.0-only): a wrong licence is
//! worse than a licence name left as the package wrote it.

use spdx::ParseMode;
use spdx::lexer::{Lexer, Token};

use crate::model::License;

/// `/` as OR, `GPL-2.0+`, deprecated ids; no guessing from imprecise names.
const MODE: ParseMode = ParseMode {
    allow_slash_as_or_operator: true,
    allow_imprecise_license_names: false,
    allow_postfix_plus_on_gpl: true,
    allow_deprecated: true,
    allow_unknown: false,
};

/// How many different licence texts each thread remembers the canonical form of. An image's
/// packages name a few dozen licences between them, each many times; past this many (an
/// image of made-up names) texts are simply canonicalised again, so memory stays bounded.
const CANONICAL_MEMO_MAX: usize = 1024;

thread_local! {
    /// [`canonical_spdx`]'s answers on this thread, by trimmed text.
    static CANONICAL_MEMO: std::cell::RefCell<std::collections::HashMap<Box<str>, Option<String>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The canonical SPDX form of `text` if it is a valid expression (operators upper-cased,
/// `GPL-2.0+` as `GPL-2.0-or-later`, bare GNU ids as `-only`); `None` otherwise.
pub(crate) fn canonical_spdx(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 1000 {
        return None;
    }
    if let Some(known) = CANONICAL_MEMO.with_borrow(|memo| memo.get(text).cloned()) {
        return known;
    }
    let canonical = canonicalise(text);
    CANONICAL_MEMO.with_borrow_mut(|memo| {
        if memo.len() < CANONICAL_MEMO_MAX {
            memo.insert(text.into(), canonical.clone());
        }
    });
    canonical
}

/// [`canonical_spdx`] without the memo, for a trimmed, non-empty text.
fn canonicalise(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<spdx::LicenseId> = None;
    let push_id = |out: &mut String, id: spdx::LicenseId, plus: bool| {
        let gnu_bare =
            id.is_gnu() && !id.name.ends_with("-only") && !id.name.ends_with("-or-later");
        match (gnu_bare, plus) {
            (true, true) => {
                out.push_str(id.name);
                out.push_str("-or-later");
            }
            (true, false) => {
                out.push_str(id.name);
                out.push_str("-only");
            }
            (false, true) if id.is_gnu() && id.name.ends_with("-only") => {
                out.push_str(id.name.trim_end_matches("-only"));
                out.push_str("-or-later");
            }
            (false, true) => {
                out.push_str(id.name);
                out.push('+');
            }
            (false, false) => out.push_str(id.name),
        }
    };
    for token in Lexer::new_mode(text, MODE) {
        let token = token.ok()?;
        if !matches!(token.token, Token::Plus)
            && let Some(id) = pending.take()
        {
            push_id(&mut out, id, false);
        }
        match token.token {
            Token::Spdx(id) => pending = Some(id),
            Token::Plus => push_id(&mut out, pending.take()?, true),
            Token::And => out.push_str(" AND "),
            Token::Or => out.push_str(" OR "),
            Token::With => out.push_str(" WITH "),
            Token::OpenParen => out.push('('),
            Token::CloseParen => out.push(')'),
            Token::Exception(e) => out.push_str(e.name),
            // References only mean something inside the document that defines them.
            Token::LicenseRef { .. } | Token::AdditionRef { .. } | Token::Unknown(_) => {
                return None;
            }
        }
    }
    if let Some(id) = pending {
        push_id(&mut out, id, false);
    }
    // Deprecated ids (`GPL-2.0+` spelled `GPL-2.0-with-…`, `eCos-2.0`…) and unbalanced
    // parentheses are refused by the strict parser.
    spdx::Expression::parse(&out).ok()?;
    Some(out)
}

/// A licence name as declared: SPDX if it maps, else the name itself.
pub(crate) fn declared(name: &str) -> Option<License> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    Some(match canonical_spdx(name).or_else(|| alias(name)) {
        Some(expr) => License::Spdx(expr),
        None => License::Named(name.to_owned()),
    })
}

/// Common spellings that are unambiguous but not SPDX ids.
fn alias(name: &str) -> Option<String> {
    let id = match name.to_ascii_lowercase().as_str() {
        "mit license" | "the mit license" | "mit/expat" | "expat" => "MIT",
        "apache 2.0"
        | "apache-2"
        | "apache 2"
        | "apache license 2.0"
        | "apache license, version 2.0"
        | "apache software license 2.0"
        | "asl 2.0" => "Apache-2.0",
        "isc license" | "isc license (iscl)" => "ISC",
        "psf" | "psf license" | "python software foundation license" => "PSF-2.0",
        "mozilla public license 2.0 (mpl 2.0)" | "mpl 2.0" => "MPL-2.0",
        "the unlicense" | "the unlicense (unlicense)" => "Unlicense",
        "bsd 3-clause" | "bsd-3" | "new bsd" | "new bsd license" | "modified bsd license" => {
            "BSD-3-Clause"
        }
        "bsd 2-clause" | "simplified bsd" | "simplified bsd license" => "BSD-2-Clause",
        "cc0 1.0 universal (cc0 1.0) public domain dedication" => "CC0-1.0",
        "boost software license 1.0 (bsl-1.0)" => "BSL-1.0",
        "mit no attribution license (mit-0)" => "MIT-0",
        "eclipse public license 2.0 (epl-2.0)" => "EPL-2.0",
        "gnu general public license v2 (gplv2)" => "GPL-2.0-only",
        "gnu general public license v2 or later (gplv2+)" => "GPL-2.0-or-later",
        "gnu general public license v3 (gplv3)" => "GPL-3.0-only",
        "gnu general public license v3 or later (gplv3+)" => "GPL-3.0-or-later",
        "gnu lesser general public license v2 (lgplv2)" => "LGPL-2.0-only",
        "gnu lesser general public license v2 or later (lgplv2+)" => "LGPL-2.0-or-later",
        "gnu lesser general public license v3 (lgplv3)" => "LGPL-3.0-only",
        "gnu lesser general public license v3 or later (lgplv3+)" => "LGPL-3.0-or-later",
        "gnu affero general public license v3" => "AGPL-3.0-only",
        "gnu affero general public license v3 or later (agplv3+)" => "AGPL-3.0-or-later",
        _ => return None,
    };
    Some(id.to_owned())
}

/// A Debian DEP-5 `License:` short name or expression (`GPL-2+`, `BSD-3-clause`, `Expat`,
/// `GPL-2+ or Artistic`, `LGPL-2.1+ with OpenSSL exception`).
pub(crate) fn debian(name: &str) -> Option<License> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut tokens = Vec::new();
    for raw in name.split_whitespace() {
        // DEP-5 uses a comma to lower the precedence of what follows; for a declared-licence
        // list the grouping hardly matters, so drop it.
        let raw = raw.trim_matches(',');
        let (open, rest) = split_parens_start(raw);
        let (core, close) = split_parens_end(rest);
        let mapped = match core.to_ascii_lowercase().as_str() {
            "or" => "OR".to_owned(),
            "and" => "AND".to_owned(),
            "with" => return Some(License::Named(name.to_owned())),
            _ => debian_id(core),
        };
        tokens.push(format!("{open}{mapped}{close}"));
    }
    let joined = tokens.join(" ");
    Some(match canonical_spdx(&joined) {
        Some(expr) => License::Spdx(expr),
        None => License::Named(name.to_owned()),
    })
}

fn split_parens_start(s: &str) -> (&str, &str) {
    let n = s.len() - s.trim_start_matches('(').len();
    s.split_at(n)
}

fn split_parens_end(s: &str) -> (&str, &str) {
    let n = s.trim_end_matches(')').len();
    s.split_at(n)
}

/// One DEP-5 short name (§ "License specification") to an SPDX id, `+` kept.
fn debian_id(short: &str) -> String {
    let (base, plus) = match short.strip_suffix('+') {
        Some(b) => (b, "+"),
        None => (short, ""),
    };
    let lower = base.to_ascii_lowercase();
    let mapped: Option<String> = match lower.as_str() {
        "expat" => Some("MIT".into()),
        "gpl" => return "GPL-1.0+".to_owned(), // "any version"
        "lgpl" => return "LGPL-2.0+".to_owned(),
        "artistic" | "artistic-1" | "artistic-1.0" => Some("Artistic-1.0-Perl".into()),
        "perl" => return "Artistic-1.0-Perl OR GPL-1.0+".to_owned(),
        "zlib" => Some("Zlib".into()),
        "cc0" => Some("CC0-1.0".into()),
        "bsd-2-clause" | "bsd-2" => Some("BSD-2-Clause".into()),
        "bsd-3-clause" | "bsd-3" => Some("BSD-3-Clause".into()),
        "bsd-4-clause" => Some("BSD-4-Clause".into()),
        "apache-2" => Some("Apache-2.0".into()),
        "mpl-1.1" | "mpl-2.0" | "mpl-1.0" => Some(base.to_ascii_uppercase()),
        "mpl-2" => Some("MPL-2.0".into()),
        // GFDL without invariant sections: SPDX has a variant id for it.
        "gfdl-niv-1.1" | "gfdl-niv-1.2" | "gfdl-niv-1.3" => {
            let v = &base[9..];
            let suffix = if plus.is_empty() { "only" } else { "or-later" };
            return format!("GFDL-{v}-no-invariants-{suffix}");
        }
        _ => None,
    };
    if let Some(m) = mapped {
        return format!("{m}{plus}");
    }
    // GPL-2, LGPL-2.1, AGPL-3, GFDL-1.3 → versioned SPDX ids (GPL-2.0, LGPL-2.1, …).
    for family in ["GPL", "LGPL", "AGPL", "GFDL"] {
        if let Some(version) = base
            .strip_prefix(family)
            .and_then(|r| r.strip_prefix('-'))
            .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        {
            let version = if version.contains('.') {
                version.to_owned()
            } else {
                format!("{version}.0")
            };
            return format!("{family}-{version}{plus}");
        }
    }
    short.to_owned()
}

/// Licences as an npm or Cargo manifest declares them: each entry an SPDX expression or name.
pub(crate) fn declared_all<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<License> {
    let mut out: Vec<License> = Vec::new();
    for name in names {
        if let Some(l) = declared(name)
            && !out.contains(&l)
        {
            out.push(l);
        }
    }
    out
}

/// A Python distribution's licences: `License-Expression` (PEP 639) first, then the
/// `License` field, then `License ::` classifiers.
pub(crate) fn python(
    expression: Option<&str>,
    license: Option<&str>,
    classifiers: &[String],
) -> Vec<License> {
    if let Some(expr) = expression.and_then(canonical_spdx) {
        return vec![License::Spdx(expr)];
    }
    let from_classifiers = declared_all(classifiers.iter().map(String::as_str));
    match license.and_then(declared) {
        Some(License::Spdx(expr)) => vec![License::Spdx(expr)],
        Some(named)
            if from_classifiers
                .iter()
                .all(|l| matches!(l, License::Named(_))) =>
        {
            let mut all = vec![named];
            for l in from_classifiers {
                if !all.contains(&l) {
                    all.push(l);
                }
            }
            all
        }
        _ => from_classifiers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spdx(s: &str) -> Option<License> {
        Some(License::Spdx(s.to_owned()))
    }
    fn named(s: &str) -> Option<License> {
        Some(License::Named(s.to_owned()))
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_spdx("MIT").as_deref(), Some("MIT"));
        assert_eq!(
            canonical_spdx("mit or apache-2.0").as_deref(),
            None,
            "ids are case-sensitive"
        );
        assert_eq!(
            canonical_spdx("MIT or Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            canonical_spdx("MIT/Apache-2.0").as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            canonical_spdx("GPL-2.0+").as_deref(),
            Some("GPL-2.0-or-later")
        );
        assert_eq!(canonical_spdx("GPL-2.0").as_deref(), Some("GPL-2.0-only"));
        assert_eq!(
            canonical_spdx("(MIT AND BSD-3-Clause)").as_deref(),
            Some("(MIT AND BSD-3-Clause)")
        );
        assert_eq!(
            canonical_spdx("Apache-2.0 WITH LLVM-exception").as_deref(),
            Some("Apache-2.0 WITH LLVM-exception")
        );
        for bad in [
            "",
            "bsd",
            "BSD",
            "gpl",
            "MIT AND",
            "(MIT",
            "LicenseRef-foo",
            "Public Domain",
            "x".repeat(2000).as_str(),
        ] {
            assert_eq!(canonical_spdx(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn remembered_answers_are_the_answers_and_the_memo_stays_bounded() {
        // Past the memo's size, texts are canonicalised afresh, with the same answers.
        for round in 0..2 {
            for i in 0..CANONICAL_MEMO_MAX + 50 {
                let made_up = format!("LicenseRef-x{i}");
                assert_eq!(canonical_spdx(&made_up), canonicalise(&made_up), "{round}");
            }
            assert_eq!(
                canonical_spdx(" GPL-2.0+ or MIT ").as_deref(),
                Some("GPL-2.0-or-later OR MIT"),
                "{round}"
            );
            assert_eq!(canonical_spdx("not a licence"), None, "{round}");
        }
        assert!(CANONICAL_MEMO.with_borrow(|memo| memo.len()) <= CANONICAL_MEMO_MAX);
    }

    #[test]
    fn debian_short_names() {
        assert_eq!(debian("GPL-3+"), spdx("GPL-3.0-or-later"));
        assert_eq!(debian("GPL-2"), spdx("GPL-2.0-only"));
        assert_eq!(debian("LGPL-2.1+"), spdx("LGPL-2.1-or-later"));
        assert_eq!(debian("BSD-3-clause"), spdx("BSD-3-Clause"));
        assert_eq!(debian("Expat"), spdx("MIT"));
        assert_eq!(
            debian("GPL-2+ or Artistic"),
            spdx("GPL-2.0-or-later OR Artistic-1.0-Perl")
        );
        assert_eq!(debian("Zlib"), spdx("Zlib"));
        assert_eq!(debian("GFDL-NIV-1.3"), spdx("GFDL-1.3-no-invariants-only"));
        assert_eq!(
            debian("GFDL-NIV-1.3+"),
            spdx("GFDL-1.3-no-invariants-or-later")
        );
        assert_eq!(
            debian("Apache-2.0 or BSD-2"),
            spdx("Apache-2.0 OR BSD-2-Clause")
        );
        assert_eq!(debian("MPL-2"), spdx("MPL-2.0"));
        assert_eq!(debian("public-domain"), named("public-domain"));
        assert_eq!(
            debian("GPL-2+ with OpenSSL exception"),
            named("GPL-2+ with OpenSSL exception")
        );
        assert_eq!(
            debian("(GPL-2+ or BSD-3-clause), and MIT"),
            spdx("(GPL-2.0-or-later OR BSD-3-Clause) AND MIT")
        );
        assert_eq!(debian("  "), None);
    }

    #[test]
    fn python_precedence() {
        let classifiers = vec!["MIT License".to_owned()];
        assert_eq!(
            python(Some("Apache-2.0"), Some("MIT"), &classifiers),
            vec![License::Spdx("Apache-2.0".into())]
        );
        assert_eq!(
            python(None, Some("MIT"), &classifiers),
            vec![License::Spdx("MIT".into())]
        );
        assert_eq!(
            python(None, None, &classifiers),
            vec![License::Spdx("MIT".into())]
        );
        assert_eq!(
            python(None, Some("Apache 2.0"), &[]),
            vec![License::Spdx("Apache-2.0".into())]
        );
        assert_eq!(
            python(None, Some("BSD"), &["BSD License".to_owned()]),
            vec![
                License::Named("BSD".into()),
                License::Named("BSD License".into())
            ]
        );
        assert!(python(None, None, &[]).is_empty());
    }
}
