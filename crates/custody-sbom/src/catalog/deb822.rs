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
    // Lines found with one vectorised search for the newlines; most lines are told apart
    // from blank ones by their first bytes.
    let bytes = text.as_bytes();
    let ends = memchr::memchr_iter(b'\n', bytes)
        .map(|i| i + 1)
        .chain((bytes.last() != Some(&b'\n') && !bytes.is_empty()).then_some(bytes.len()));
    for end in ends {
        line_no += 1;
        let blank = is_blank(&text[offset..end]);
        match (blank, start) {
            (true, Some((from, first_line))) => {
                f(&text[from..offset], first_line);
                start = None;
            }
            (false, None) => start = Some((offset, line_no)),
            _ => {}
        }
        offset = end;
    }
    if let Some((from, first_line)) = start {
        f(&text[from..], first_line);
    }
}

/// `text.lines()`, found with one vectorised newline search instead of a search per line:
/// the same lines, without their `\n` or `\r\n`.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut from = 0usize;
    let ends = memchr::memchr_iter(b'\n', text.as_bytes())
        .map(Some)
        .chain([None]);
    ends.filter_map(move |end| {
        let line = match end {
            // A `\r` is part of the line ending only right before the `\n`.
            Some(end) => {
                let line = &text[from..end];
                line.strip_suffix('\r').unwrap_or(line)
            }
            // What follows the last newline is a line only when it is not empty.
            None if from < text.len() => &text[from..],
            None => return None,
        };
        from = end.map_or(text.len(), |e| e + 1);
        Some(line)
    })
}

/// Whether `line` is whitespace only (`line.trim().is_empty()`), deciding on the first byte
/// that is not ASCII whitespace: an ASCII byte there means no, anything else is left to
/// `trim`, which knows Unicode's other spaces.
fn is_blank(line: &str) -> bool {
    match line.bytes().find(|b| !b.is_ascii_whitespace()) {
        None => true,
        // U+000B, the line tabulation, is Unicode whitespace but not ASCII whitespace to Rust.
        Some(b) if b.is_ascii() && b != 0x0b => false,
        Some(_) => line.trim().is_empty(),
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
    for line in lines(raw) {
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
    for (i, line) in lines(raw).enumerate() {
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

    /// The paragraph splitter as it was, line by line with `trim`: the fast one must cut
    /// every text the same way.
    fn raw_paragraphs_by_trim(text: &str) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut start: Option<(usize, usize)> = None;
        let mut offset = 0usize;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            match (line.trim().is_empty(), start) {
                (true, Some((from, first))) => {
                    out.push((text[from..offset].to_owned(), first));
                    start = None;
                }
                (false, None) => start = Some((offset, i + 1)),
                _ => {}
            }
            offset += line.len();
        }
        if let Some((from, first)) = start {
            out.push((text[from..].to_owned(), first));
        }
        out
    }

    #[test]
    fn paragraphs_are_cut_as_trim_would_cut_them() {
        const PIECES: [&str; 12] = [
            "\n", " ", "\t", "\r", "\x0b", "\x0c", "\u{a0}", "\u{3000}", "Field: v", "x", "#", "é",
        ];
        for text in crate::catalog::generated_texts(
            &PIECES,
            5000,
            24,
            0x2545_f491_4f6c_dd1d,
            0x9e37_79b9_7f4a_7c15,
        ) {
            let mut fast = Vec::new();
            for_each_raw_paragraph(&text, |raw, line| fast.push((raw.to_owned(), line)));
            assert_eq!(fast, raw_paragraphs_by_trim(&text), "{text:?}");
            assert!(lines(&text).eq(text.lines()), "{text:?}");
        }
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\n\r\nb\r",
            "\r",
            "\n\n",
            "x\ry\n z",
        ] {
            assert!(lines(text).eq(text.lines()), "{text:?}");
        }
        for line in [
            " \x0b \n",
            "\u{a0}\n",
            " \u{2028}",
            "\t\r\n",
            " x",
            "\x0c",
            "",
        ] {
            assert_eq!(is_blank(line), line.trim().is_empty(), "{line:?}");
        }
    }

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
