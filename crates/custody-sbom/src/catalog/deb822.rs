//! Paragraphs of `Field: value` lines separated by blank lines: the shape of dpkg's status
//! database, distroless `status.d` files, DEP-5 copyright files, apk's `installed` database
//! (with one-letter keys) and RPM-free `os-release`-like control data.
//!
//! Written here rather than taken from a crate because custody needs two things the deb822
//! crates don't give together: recovery per paragraph (one bad record is a warning, the rest
//! of the database still counts) and the raw bytes of each paragraph (its fingerprint tells
//! a rewritten record from a rewritten file).

/// One field: its name and its value with continuation lines joined by `\n` (leading
/// whitespace of continuation lines removed, a lone `.` kept as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: String,
}

/// One paragraph, borrowed from the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Paragraph<'a> {
    pub(crate) fields: Vec<Field<'a>>,
    /// The paragraph exactly as written (for fingerprints).
    pub(crate) raw: &'a str,
    /// 1-based line number of the paragraph's first line (for warnings).
    pub(crate) line: usize,
}

impl Paragraph<'_> {
    /// The first field called `name` (field names are case-insensitive in deb822).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_str())
    }

    /// Every field called `name`, in order.
    #[cfg(test)]
    pub(crate) fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_str())
    }
}

/// A paragraph that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadParagraph {
    pub(crate) line: usize,
    pub(crate) reason: String,
}

/// How the lines of a paragraph are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// `Name: value` with indented continuation lines (dpkg, DEP-5).
    Deb822,
    /// `K:value` with a single-character key and no continuation lines (apk).
    Apk,
}

/// Splits `text` into paragraphs. Comment lines (`#`) are skipped in deb822 syntax. A
/// paragraph with a line that is neither a field nor a continuation is reported in the second
/// list and left out of the first; the others are unaffected.
pub(crate) fn paragraphs(text: &str, syntax: Syntax) -> (Vec<Paragraph<'_>>, Vec<BadParagraph>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for_each_raw_paragraph(text, |raw, first_line| {
        push_paragraph(raw, first_line, syntax, &mut good, &mut bad);
    });
    (good, bad)
}

/// Calls `f` with the text of every paragraph (blank-line separated, as [`paragraphs`] cuts
/// them) and the 1-based line number of its first line, without parsing its fields.
pub(crate) fn for_each_raw_paragraph<'a>(text: &'a str, mut f: impl FnMut(&'a str, usize)) {
    let mut start: Option<(usize, usize)> = None; // (byte offset, line number)
    let mut offset = 0usize;
    let mut line_no = 0usize;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        let blank = line.trim().is_empty();
        match (blank, start) {
            (true, Some((from, first_line))) => {
                f(&text[from..offset], first_line);
                start = None;
            }
            (false, None) => start = Some((offset, line_no)),
            _ => {}
        }
        offset += line.len();
    }
    if let Some((from, first_line)) = start {
        f(&text[from..], first_line);
    }
}

/// The deb822 fields of one paragraph as `(name, value on the field's own line, trimmed)`,
/// continuation lines skipped: what [`paragraphs`] would find, without building the joined
/// values. `Ok(empty)` for a paragraph of comments only, `Err(())` for one [`paragraphs`]
/// reports as bad.
pub(crate) fn field_heads<'a>(
    raw: &'a str,
    mut f: impl FnMut(&'a str, &'a str),
) -> Result<usize, ()> {
    let mut fields = 0usize;
    for line in raw.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if fields == 0 {
                return Err(());
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(());
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(());
        }
        fields += 1;
        f(name, value.trim());
    }
    Ok(fields)
}

fn push_paragraph<'a>(
    raw: &'a str,
    line: usize,
    syntax: Syntax,
    good: &mut Vec<Paragraph<'a>>,
    bad: &mut Vec<BadParagraph>,
) {
    match parse_paragraph(raw, syntax) {
        Ok(fields) if fields.is_empty() => {}
        Ok(fields) => good.push(Paragraph { fields, raw, line }),
        Err((offset, reason)) => bad.push(BadParagraph {
            line: line + offset,
            reason,
        }),
    }
}

fn parse_paragraph(raw: &str, syntax: Syntax) -> Result<Vec<Field<'_>>, (usize, String)> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match syntax {
            Syntax::Deb822 => {
                if line.starts_with('#') {
                    continue;
                }
                if line.starts_with([' ', '\t']) {
                    let Some(last) = fields.last_mut() else {
                        return Err((i, "continuation line before any field".to_owned()));
                    };
                    last.value.push('\n');
                    last.value.push_str(line.trim());
                    continue;
                }
                let Some((name, value)) = line.split_once(':') else {
                    return Err((i, format!("line is not a field: {:?}", clip(line))));
                };
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err((i, format!("bad field name {:?}", clip(name))));
                }
                fields.push(Field {
                    name,
                    value: value.trim().to_owned(),
                });
            }
            Syntax::Apk => {
                let mut chars = line.char_indices();
                let (Some((_, _)), Some((colon, ':'))) = (chars.next(), chars.next()) else {
                    return Err((i, format!("line is not a K:value field: {:?}", clip(line))));
                };
                fields.push(Field {
                    name: &line[..colon],
                    value: line[colon + 1..].to_owned(),
                });
            }
        }
    }
    Ok(fields)
}

/// At most 80 characters of `s`, for error messages about hostile input.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paragraphs_and_joins_continuations() {
        let text = "Package: a\nDescription: short\n long line\n .\n more\n\n\nPackage: b\r\nVersion: 1\r\n";
        let (good, bad) = paragraphs(text, Syntax::Deb822);
        assert!(bad.is_empty());
        assert_eq!(good.len(), 2);
        assert_eq!(good[0].get("package"), Some("a"));
        assert_eq!(
            good[0].get("Description"),
            Some("short\nlong line\n.\nmore")
        );
        assert_eq!(good[1].get("Version"), Some("1"));
        assert_eq!(good[1].line, 8);
        assert!(good[1].raw.starts_with("Package: b"));
    }

    #[test]
    fn a_bad_paragraph_is_reported_and_the_others_kept() {
        let text =
            "Package: a\n\nthis is not a field\nPackage: x\n\n continuation first\n\nPackage: c\n";
        let (good, bad) = paragraphs(text, Syntax::Deb822);
        assert_eq!(good.len(), 2);
        assert_eq!(good[1].get("Package"), Some("c"));
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 3);
        assert_eq!(bad[1].line, 6);
    }

    #[test]
    fn apk_syntax_uses_one_letter_keys() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:busybox\n";
        let (good, bad) = paragraphs(text, Syntax::Apk);
        assert!(bad.is_empty());
        assert_eq!(good[0].get("P"), Some("musl"));
        assert_eq!(good[0].get_all("R").count(), 1);
        let (good, bad) = paragraphs("P:ok\n\nnonsense\n", Syntax::Apk);
        assert_eq!((good.len(), bad.len()), (1, 1));
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in [
            "",
            "\n\n\n",
            ":",
            ": \n :",
            "\u{feff}P:\n",
            "é:é\n é",
            "\r\n\r\n",
            "a:\u{0}",
        ] {
            let _ = paragraphs(text, Syntax::Deb822);
            let _ = paragraphs(text, Syntax::Apk);
        }
        assert_eq!(clip(&"x".repeat(200)).chars().count(), 81);
    }
}
