//! Warnings: one bad record, entry or component, named, never fatal to the rest.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of problem a [`Warning`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The bytes are not JSON (or not a JSON object).
    InvalidJson,
    /// The record breaks a rule of the OSV schema custody relies on; the record is skipped.
    SchemaViolation,
    /// An `affected` entry names an ecosystem custody does not evaluate; the entry is skipped.
    UnsupportedEcosystem,
    /// A range or version the ecosystem cannot parse; the range is dropped and components
    /// it could concern are reported as unevaluated.
    UnparseableRange,
    /// A severity entry custody cannot read; the finding's severity may be unknown.
    UnreadableSeverity,
    /// A file or archive entry larger than the configured limit; it is skipped unread.
    TooLarge,
    /// Two records with one ID; the newer one is kept.
    DuplicateId,
    /// A file in the database folder that is not a JSON record or a zip export.
    IgnoredFile,
    /// A file or archive entry that could not be read (I/O error, corrupt compression).
    Unreadable,
}

impl WarningKind {
    /// The kind's name as written in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningKind::InvalidJson => "invalid-json",
            WarningKind::SchemaViolation => "schema-violation",
            WarningKind::UnsupportedEcosystem => "unsupported-ecosystem",
            WarningKind::UnparseableRange => "unparseable-range",
            WarningKind::UnreadableSeverity => "unreadable-severity",
            WarningKind::TooLarge => "too-large",
            WarningKind::DuplicateId => "duplicate-id",
            WarningKind::IgnoredFile => "ignored-file",
            WarningKind::Unreadable => "unreadable",
        }
    }
}

/// A problem with one record (or file) of an advisory database that did not stop the load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Where the record came from: a file path, or `archive.zip!entry.json`.
    pub source: String,
    /// The record's ID, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The kind of problem.
    pub kind: WarningKind,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.id {
            Some(id) => write!(
                f,
                "{} ({id}): {}: {}",
                self.source,
                self.kind.as_str(),
                self.message
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.source,
                self.kind.as_str(),
                self.message
            ),
        }
    }
}
