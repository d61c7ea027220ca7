//! Severity of an advisory: CVSS base scores computed from the records' vectors, or the
//! database's own rating when a record carries no vector.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A qualitative severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityLevel {
    /// CVSS 0.0.
    None,
    /// CVSS 0.1–3.9; GHSA LOW; Debian/Ubuntu low, negligible or unimportant.
    Low,
    /// CVSS 4.0–6.9; GHSA MODERATE.
    Medium,
    /// CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0.
    Critical,
}

impl SeverityLevel {
    /// Every level, least severe first.
    pub const ALL: [SeverityLevel; 5] = [
        SeverityLevel::None,
        SeverityLevel::Low,
        SeverityLevel::Medium,
        SeverityLevel::High,
        SeverityLevel::Critical,
    ];

    /// The level's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLevel::None => "none",
            SeverityLevel::Low => "low",
            SeverityLevel::Medium => "medium",
            SeverityLevel::High => "high",
            SeverityLevel::Critical => "critical",
        }
    }

    /// The CVSS v3/v4 qualitative rating of a base score.
    pub fn from_score(score: f64) -> SeverityLevel {
        match score {
            s if s >= 9.0 => SeverityLevel::Critical,
            s if s >= 7.0 => SeverityLevel::High,
            s if s >= 4.0 => SeverityLevel::Medium,
            s if s > 0.0 => SeverityLevel::Low,
            _ => SeverityLevel::None,
        }
    }
}

impl fmt::Display for SeverityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a severity level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?} (expected none, low, medium, high or critical)")]
pub struct SeverityLevelError(pub String);

impl FromStr for SeverityLevel {
    type Err = SeverityLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SeverityLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| SeverityLevelError(s.to_owned()))
    }
}

/// One `severity[]` entry of an OSV record, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityEntry {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4` or `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector string (or the Ubuntu priority).
    pub score: String,
}

/// The severity custody assigns to a finding, and what it was derived from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Severity {
    /// The level, or `None` when the record gives no usable severity at all.
    pub level: Option<SeverityLevel>,
    /// The CVSS base score, when derived from a vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The CVSS vector the score was computed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// Where the level came from: `CVSS_V4`, `CVSS_V3`, `CVSS_V2`, `Ubuntu`,
    /// `database_specific.severity`, `urgency`, or `none`.
    pub method: String,
}

impl Severity {
    /// The severity of an advisory for one of its packages: the newest CVSS version present
    /// (v4, then v3.x, then v2), then the Ubuntu priority, then the database's own rating
    /// (GHSA's `database_specific.severity`), then Debian's urgency.
    ///
    /// A vector that does not parse is skipped (its entry was already reported when the
    /// record was loaded) and the next source is tried.
    pub fn assess(
        entries: &[SeverityEntry],
        db_rating: Option<&str>,
        urgency: Option<&str>,
    ) -> Severity {
        for kind in ["CVSS_V4", "CVSS_V3", "CVSS_V2"] {
            for e in entries.iter().filter(|e| e.kind == kind) {
                if let Some(score) = cvss_base_score(kind, &e.score) {
                    let level = if kind == "CVSS_V2" {
                        // CVSS v2 has no "critical" band (NVD: 7.0–10.0 is high).
                        SeverityLevel::from_score(score).min(SeverityLevel::High)
                    } else {
                        SeverityLevel::from_score(score)
                    };
                    return Severity {
                        level: Some(level),
                        score: Some(score),
                        vector: Some(e.score.clone()),
                        method: kind.to_owned(),
                    };
                }
            }
        }
        if let Some(level) = entries
            .iter()
            .filter(|e| e.kind == "Ubuntu")
            .find_map(|e| priority_level(&e.score))
        {
            return Severity {
                level: Some(level),
                score: None,
                vector: None,
                method: "Ubuntu".to_owned(),
            };
        }
        if let Some(level) = db_rating.and_then(priority_level) {
            return Severity {
                level: Some(level),
                score: None,
                vector: None,
                method: "database_specific.severity".to_owned(),
            };
        }
        if let Some(level) = urgency.and_then(priority_level) {
            return Severity {
                level: Some(level),
                score: None,
                vector: None,
                method: "urgency".to_owned(),
            };
        }
        Severity {
            level: None,
            score: None,
            vector: None,
            method: "none".to_owned(),
        }
    }
}

/// The base score of a CVSS vector of the given OSV severity type, through RustSec's `cvss`
/// crate (CVSS v2, v3.0/v3.1 base, and v4.0 from its published lookup tables).
pub fn cvss_base_score(kind: &str, vector: &str) -> Option<f64> {
    match kind {
        "CVSS_V4" if vector.starts_with("CVSS:4.0/") => vector
            .parse::<cvss::v4::Vector>()
            .ok()
            .map(|v| v.score().value()),
        "CVSS_V3" if vector.starts_with("CVSS:3.0/") || vector.starts_with("CVSS:3.1/") => vector
            .parse::<cvss::v3::Vector>()
            .ok()
            .map(|v| v.base_score().value()),
        "CVSS_V2" => vector
            .parse::<cvss::v2::Vector>()
            .ok()
            .map(|v| v.score().value()),
        _ => None,
    }
}

/// Whether a severity entry is well-formed, checked at load time without scoring it (a
/// database of 200,000 records is loaded to match a few hundred components; vectors are
/// scored when a finding needs them): a known type, and for CVSS a vector of the right
/// version made of `METRIC:VALUE` parts, as the OSV schema's patterns require.
pub(crate) fn entry_is_readable(e: &SeverityEntry) -> bool {
    let metrics = |rest: &str| {
        !rest.is_empty()
            && rest.split('/').all(|m| {
                m.split_once(':').is_some_and(|(k, v)| {
                    !k.is_empty()
                        && !v.is_empty()
                        && k.bytes().all(|b| b.is_ascii_alphabetic())
                        && v.bytes().all(|b| b.is_ascii_alphanumeric())
                })
            })
    };
    match e.kind.as_str() {
        "CVSS_V2" => metrics(&e.score),
        "CVSS_V3" => e
            .score
            .strip_prefix("CVSS:3.1/")
            .or_else(|| e.score.strip_prefix("CVSS:3.0/"))
            .is_some_and(metrics),
        "CVSS_V4" => e.score.strip_prefix("CVSS:4.0/").is_some_and(metrics),
        "Ubuntu" => priority_level(&e.score).is_some(),
        _ => false,
    }
}

/// GHSA ratings (`LOW`, `MODERATE`, `HIGH`, `CRITICAL`), Debian urgencies (`unimportant`,
/// `low`, `medium`, `high`, optionally with a `*` or `**` confidence mark) and Ubuntu
/// priorities (`negligible` ... `critical`) as levels. "not yet assigned" and other words are
/// unknown.
fn priority_level(s: &str) -> Option<SeverityLevel> {
    let s = s.trim().trim_end_matches('*').trim().to_ascii_lowercase();
    Some(match s.as_str() {
        "negligible" | "unimportant" | "low" => SeverityLevel::Low,
        "moderate" | "medium" => SeverityLevel::Medium,
        "high" | "important" => SeverityLevel::High,
        "critical" => SeverityLevel::Critical,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, score: &str) -> SeverityEntry {
        SeverityEntry {
            kind: kind.into(),
            score: score.into(),
        }
    }

    #[test]
    fn cvss_v3_base_scores() {
        // Values as NVD shows them for these vectors (e.g. CVE-2022-24713, CVE-2019-10744).
        let s = cvss_base_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H").unwrap();
        assert_eq!(s, 7.5);
        let s = cvss_base_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:H").unwrap();
        assert_eq!(s, 9.1);
        let s = cvss_base_score("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!(s, 9.8);
        assert!(cvss_base_score("CVSS_V3", "CVSS:3.1/AV:X").is_none());
        assert!(cvss_base_score("CVSS_V3", "CVSS:4.0/AV:N").is_none());
    }

    #[test]
    fn cvss_v4_scores_match_first_examples() {
        // FIRST CVSS v4.0 specification examples / calculator values.
        for (vector, want) in [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N",
                5.1,
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:P/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                8.5,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                0.0,
            ),
        ] {
            assert_eq!(cvss_base_score("CVSS_V4", vector), Some(want), "{vector}");
        }
    }

    #[test]
    fn newest_cvss_wins_then_database_ratings() {
        let s = Severity::assess(
            &[
                entry("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"),
                entry(
                    "CVSS_V4",
                    "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N",
                ),
            ],
            Some("CRITICAL"),
            None,
        );
        assert_eq!(s.level, Some(SeverityLevel::Medium));
        assert_eq!(s.method, "CVSS_V4");
        let s = Severity::assess(&[], Some("MODERATE"), None);
        assert_eq!(
            (s.level, s.method.as_str()),
            (Some(SeverityLevel::Medium), "database_specific.severity")
        );
        let s = Severity::assess(&[], None, Some("unimportant"));
        assert_eq!(s.level, Some(SeverityLevel::Low));
        let s = Severity::assess(&[], None, Some("not yet assigned"));
        assert_eq!(s.level, None);
        let s = Severity::assess(
            &[entry("CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C")],
            None,
            None,
        );
        assert_eq!((s.level, s.score), (Some(SeverityLevel::High), Some(10.0)));
        let s = Severity::assess(&[entry("Ubuntu", "negligible")], None, None);
        assert_eq!(s.level, Some(SeverityLevel::Low));
    }
}
