//! The image config, checked: DiffIDs parsed as digests, times parsed, history tied to layers.

use std::collections::HashMap;

use custody_types::DiffId;
use jiff::Timestamp;
use oci_spec::image::ImageConfiguration;

use crate::entry::Warning;
use crate::error::OciError;
use crate::reference::Platform;

/// One `history` record of the config, tied to the layer it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// When the step ran (`None` when absent or not RFC 3339).
    pub created: Option<Timestamp>,
    /// The build step (`RUN apt-get install ...`).
    pub created_by: Option<String>,
    /// Who made it.
    pub author: Option<String>,
    /// Free-form comment.
    pub comment: Option<String>,
    /// Whether the step produced no layer (ENV, CMD, ...).
    pub empty_layer: bool,
    /// The layer this step produced, counting non-empty steps in order; `None` for empty
    /// steps and for history that does not line up with the layers.
    pub layer: Option<usize>,
}

/// An image config (OCI or Docker; the same JSON), parsed and checked.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    raw: ImageConfiguration,
    diff_ids: Vec<DiffId>,
    created: Option<Timestamp>,
    history: Vec<HistoryEntry>,
}

impl ImageConfig {
    /// Parses config bytes; `what` names the blob in errors. Malformed times become `None`
    /// with a warning; malformed DiffIDs are an error because layer identity rests on them.
    pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<(ImageConfig, Vec<Warning>), OciError> {
        let raw = ImageConfiguration::from_reader(bytes)
            .map_err(|e| OciError::invalid(what, format!("not an image config: {e}")))?;
        let mut warnings = Vec::new();
        let diff_ids = raw
            .rootfs()
            .diff_ids()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.parse::<DiffId>()
                    .map_err(|e| OciError::invalid(what, format!("rootfs.diff_ids[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut time = |field: &str, s: Option<&String>| -> Option<Timestamp> {
            let s = s?;
            match s.parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(e) => {
                    warnings.push(Warning {
                        layer: None,
                        path: None,
                        message: format!("{what}: {field} {s:?} is not an RFC 3339 time: {e}"),
                    });
                    None
                }
            }
        };
        let created = time("created", raw.created().as_ref());
        let raw_history = raw.history().clone().unwrap_or_default();
        let non_empty = raw_history
            .iter()
            .filter(|h| !h.empty_layer().unwrap_or(false))
            .count();
        let lines_up = non_empty == diff_ids.len();
        let mut next_layer = 0;
        let mut history = Vec::with_capacity(raw_history.len());
        for (i, h) in raw_history.iter().enumerate() {
            let empty_layer = h.empty_layer().unwrap_or(false);
            let layer = if empty_layer || !lines_up {
                None
            } else {
                next_layer += 1;
                Some(next_layer - 1)
            };
            history.push(HistoryEntry {
                created: time(&format!("history[{i}].created"), h.created().as_ref()),
                created_by: h.created_by().clone(),
                author: h.author().clone(),
                comment: h.comment().clone(),
                empty_layer,
                layer,
            });
        }
        if !raw_history.is_empty() && !lines_up {
            warnings.push(Warning {
                layer: None,
                path: None,
                message: format!(
                    "{what}: history has {non_empty} non-empty steps for {} layers; not tying steps to layers",
                    diff_ids.len()
                ),
            });
        }
        Ok((
            ImageConfig {
                raw,
                diff_ids,
                created,
                history,
            },
            warnings,
        ))
    }

    /// The oci-spec view of the whole config, for fields not surfaced here.
    pub fn raw(&self) -> &ImageConfiguration {
        &self.raw
    }

    /// `rootfs.diff_ids`, bottom layer first.
    pub fn diff_ids(&self) -> &[DiffId] {
        &self.diff_ids
    }

    /// The image's creation time.
    pub fn created(&self) -> Option<Timestamp> {
        self.created
    }

    /// Build history, oldest first.
    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    /// The platform the image was built for.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.raw.os().to_string(),
            architecture: self.raw.architecture().to_string(),
            variant: self.raw.variant().clone(),
        }
    }

    /// `config.User` (`""` and absent both mean root).
    pub fn user(&self) -> Option<&str> {
        self.raw.config().as_ref()?.user().as_deref()
    }

    /// `config.Env`, `NAME=value` strings.
    pub fn env(&self) -> &[String] {
        self.raw
            .config()
            .as_ref()
            .and_then(|c| c.env().as_deref())
            .unwrap_or(&[])
    }

    /// `config.Entrypoint`.
    pub fn entrypoint(&self) -> &[String] {
        self.raw
            .config()
            .as_ref()
            .and_then(|c| c.entrypoint().as_deref())
            .unwrap_or(&[])
    }

    /// `config.Cmd`.
    pub fn cmd(&self) -> &[String] {
        self.raw
            .config()
            .as_ref()
            .and_then(|c| c.cmd().as_deref())
            .unwrap_or(&[])
    }

    /// `config.WorkingDir`.
    pub fn working_dir(&self) -> Option<&str> {
        self.raw.config().as_ref()?.working_dir().as_deref()
    }

    /// `config.Labels`.
    pub fn labels(&self) -> Option<&HashMap<String, String>> {
        self.raw.config().as_ref()?.labels().as_ref()
    }

    /// Whether the image runs as root: no user, an empty one, or user `root`/`0` (with or
    /// without a group).
    pub fn runs_as_root(&self) -> bool {
        match self.user() {
            None => true,
            Some(u) => {
                let user = u.split(':').next().unwrap_or("");
                user.is_empty() || user == "root" || user == "0"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"created":"2026-11-28T11:20:51.187143767Z","architecture":"amd64","os":"linux",
      "config":{"User":"65532:65532","Env":["PATH=/bin"],"Entrypoint":["/app"]},
      "rootfs":{"type":"layers","diff_ids":["sha256:6d940be30bbe5505c14d1a531452d41a040ca0f16ba19cdf4a382e062e02c072"]},
      "history":[{"created":"bad time","created_by":"COPY"},{"created_by":"ENTRYPOINT","empty_layer":true}]}"#;

    #[test]
    fn parses_fields_and_ties_history_to_layers() {
        let (c, warnings) = ImageConfig::parse(CONFIG.as_bytes(), "config").unwrap();
        assert_eq!(c.user(), Some("65532:65532"));
        assert!(!c.runs_as_root());
        assert_eq!(c.env(), ["PATH=/bin"]);
        assert_eq!(c.entrypoint(), ["/app"]);
        assert_eq!(c.platform().to_string(), "linux/amd64");
        assert_eq!(
            c.created().unwrap().to_string(),
            "2026-11-28T11:20:51.187143767Z"
        );
        assert_eq!(c.history()[0].layer, Some(0));
        assert_eq!(c.history()[1].layer, None);
        assert_eq!(c.history()[0].created, None);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[test]
    fn refuses_bad_diff_ids() {
        let bad = CONFIG.replace("sha256:6d94", "sha256:../");
        let err = ImageConfig::parse(bad.as_bytes(), "config").unwrap_err();
        assert!(err.to_string().contains("rootfs.diff_ids[0]"), "{err}");
    }
}
