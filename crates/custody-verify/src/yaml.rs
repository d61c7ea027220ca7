//! A YAML document as a small tree whose every node knows its line, built from saphyr's
//! event parser.
//!
//! A policy is security configuration: a key written twice (`min: 2` and later `min: 0`) must
//! be an error, not "the last one wins", and every mistake should be reported with its line
//! in one pass. saphyr's own tree type keeps neither duplicates nor all positions, so this
//! module builds its own from the parser's spanned events. Aliases are refused (they make
//! a policy harder to read and are the vector of "billion laughs" documents), and so are
//! custom tags and more than one document.

use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Most nested collections accepted; a policy is four levels deep.
const MAX_DEPTH: usize = 32;

/// A line and column in the policy file, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Location {
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based.
    pub column: usize,
}

impl Location {
    fn of(span: &Span) -> Location {
        Location {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) at: Location,
    pub(crate) kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A scalar and whether it was quoted (a quoted `true` is a string, not a boolean).
    Scalar(String, bool),
    Seq(Vec<Node>),
    /// Keys are scalars (checked while building), in document order, never repeated.
    Map(Vec<(String, Location, Node)>),
}

impl Node {
    pub(crate) fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(s, false) if is_null(s) => "null",
            Kind::Scalar(..) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, false) if is_null(s))
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxProblem {
    pub(crate) at: Location,
    pub(crate) message: String,
}

enum Frame {
    Seq(Location, Vec<Node>),
    Map {
        at: Location,
        entries: Vec<(String, Location, Node)>,
        pending_key: Option<(String, Location)>,
    },
}

/// Parses `text` into a tree. Structural problems that still leave a tree (a duplicate key, a
/// non-scalar key, an alias) are all collected; a syntax error stops the parse, since nothing
/// after it can be trusted.
pub(crate) fn parse(text: &str) -> (Option<Node>, Vec<SyntaxProblem>) {
    let mut problems = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(e) => e,
            Err(e) => {
                problems.push(SyntaxProblem {
                    at: Location {
                        line: e.marker().line(),
                        column: e.marker().col() + 1,
                    },
                    message: format!("invalid YAML: {}", e.info()),
                });
                return (None, problems);
            }
        };
        let at = Location::of(&span);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    problems.push(SyntaxProblem {
                        at,
                        message: "a policy file holds one YAML document, found a second".into(),
                    });
                    return (root, problems);
                }
                continue;
            }
            Event::Alias(_) => {
                problems.push(SyntaxProblem {
                    at,
                    message:
                        "YAML aliases (*name) are not allowed in a policy; write the value out"
                            .into(),
                });
                Node {
                    at,
                    kind: Kind::Scalar(String::new(), false),
                }
            }
            Event::Scalar(value, style, _anchor, tag) => {
                if let Some(tag) = tag
                    && !tag.is_yaml_core_schema()
                {
                    problems.push(SyntaxProblem {
                        at,
                        message: format!(
                            "YAML tag {}{} is not allowed in a policy",
                            tag.handle, tag.suffix
                        ),
                    });
                }
                Node {
                    at,
                    kind: Kind::Scalar(value.into_owned(), style != ScalarStyle::Plain),
                }
            }
            Event::SequenceStart(_, _) | Event::MappingStart(_, _) => {
                if stack.len() >= MAX_DEPTH {
                    problems.push(SyntaxProblem {
                        at,
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                    return (None, problems);
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(at, Vec::new())
                } else {
                    Frame::Map {
                        at,
                        entries: Vec::new(),
                        pending_key: None,
                    }
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(at, items)) => Node {
                    at,
                    kind: Kind::Seq(items),
                },
                _ => return (None, problems),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { at, entries, .. }) => Node {
                    at,
                    kind: Kind::Map(entries),
                },
                _ => return (None, problems),
            },
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => {
                    let key = match node.kind {
                        Kind::Scalar(s, _) => s,
                        _ => {
                            problems.push(SyntaxProblem {
                                at: node.at,
                                message: format!(
                                    "a mapping key must be a plain name, not {}",
                                    node.describe()
                                ),
                            });
                            String::from("\u{0}invalid")
                        }
                    };
                    *pending_key = Some((key, node.at));
                }
                Some((key, key_at)) => {
                    if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == key) {
                        problems.push(SyntaxProblem {
                            at: key_at,
                            message: format!(
                                "duplicate key `{key}` (first given on line {})",
                                first.line
                            ),
                        });
                    } else {
                        entries.push((key, key_at, node));
                    }
                }
            },
        }
    }
    (root, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_keys(n: &Node) -> Vec<(&str, usize)> {
        match &n.kind {
            Kind::Map(e) => e.iter().map(|(k, at, _)| (k.as_str(), at.line)).collect(),
            _ => panic!("not a map"),
        }
    }

    #[test]
    fn nodes_carry_their_lines() {
        let (root, problems) = parse("version: 1\nrules:\n  reviews: {min: 2}\n  scan: x\n");
        assert!(problems.is_empty(), "{problems:?}");
        let root = root.unwrap();
        assert_eq!(map_keys(&root), [("version", 1), ("rules", 2)]);
        let Kind::Map(e) = &root.kind else { panic!() };
        assert_eq!(map_keys(&e[1].2), [("reviews", 3), ("scan", 4)]);
    }

    #[test]
    fn duplicate_keys_aliases_and_tags_are_each_reported() {
        let text = "a: 1\nb: &x 2\na: 3\nc: *x\nd: !custom 4\n";
        let (root, problems) = parse(text);
        assert!(root.is_some());
        let lines: Vec<usize> = problems.iter().map(|p| p.at.line).collect();
        assert_eq!(lines, [3, 4, 5], "{problems:?}");
        assert!(
            problems[0]
                .message
                .contains("duplicate key `a` (first given on line 1)")
        );
    }

    #[test]
    fn syntax_errors_stop_with_a_location() {
        let (root, problems) = parse("a: [1, 2\nb: 3\n");
        assert!(root.is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.starts_with("invalid YAML"));
        let (_, problems) = parse("a: 1\n---\nb: 2\n");
        assert!(problems[0].message.contains("one YAML document"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(100);
        let (root, problems) = parse(&text);
        assert!(root.is_none());
        assert!(!problems.is_empty());
    }
}
