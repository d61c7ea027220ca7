//! C2SP tlog-checkpoint bodies and the signed checkpoints a log hands out.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::hash::{Hash, truncate};
use crate::note::{Note, NoteError, SignerKey, VerifierKey};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around it is malformed or its signatures fail.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// Fewer than three newline-terminated lines.
    #[error("checkpoint has fewer than three lines (origin, size, root hash)")]
    TooFewLines,
    /// The first line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// An ASCII control character other than newline.
    #[error("checkpoint contains control character {byte:#04x}")]
    ControlCharacter {
        /// The character.
        byte: u8,
    },
    /// The size line is not a decimal `u64` without leading zeros.
    #[error("checkpoint tree size {0:?} is not a decimal number without sign or leading zeros")]
    InvalidSize(String),
    /// The root line is not standard base64.
    #[error("checkpoint root hash {0:?} is not standard base64")]
    InvalidRootHash(String),
    /// The root is not a SHA-256 value.
    #[error("checkpoint root hash is {0} bytes long, expected 32")]
    RootHashLength(usize),
    /// An extension line is empty (the spec requires non-empty ones).
    #[error("checkpoint extension line {0} is empty")]
    EmptyExtensionLine(usize),
    /// Text after the root line does not end with a newline.
    #[error("checkpoint's last extension line does not end with a newline")]
    MissingFinalNewline,
    /// An origin or extension line given to [`Checkpoint::with_extensions`] holds a newline.
    #[error("checkpoint origin or extension line contains a newline")]
    EmbeddedNewline,
    /// The checkpoint is for another log.
    #[error("checkpoint origin {got:?} is not the expected log origin {expected:?}")]
    OriginMismatch {
        /// The origin the caller trusts.
        expected: String,
        /// The origin in the checkpoint.
        got: String,
    },
    /// The log key did not sign it.
    #[error("checkpoint is not signed by log key {key}")]
    NotSignedByLogKey {
        /// `name+keyid` of the trusted key.
        key: String,
    },
    /// The signing key's name is not the checkpoint's origin.
    #[error("log key {key} cannot sign a checkpoint for origin {origin:?}: names differ")]
    SignerIsNotOrigin {
        /// The key name.
        key: String,
        /// The checkpoint's origin.
        origin: String,
    },
}

/// A checkpoint body as written, parsed exactly like transparency-dev/formats
/// `log.Checkpoint.Unmarshal` (plus the spec's no-leading-zeros rule): origin, size, root hash
/// bytes of any length, and whatever follows as `rest`.
///
/// Use [`Checkpoint`] for anything that is trusted; this type exists for the published parse
/// vectors and for tools that inspect foreign checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointText {
    /// First line.
    pub origin: String,
    /// Second line.
    pub size: u64,
    /// Third line, base64-decoded.
    pub root_hash: Vec<u8>,
    /// Everything after the third line (extension lines), verbatim.
    pub rest: String,
}

impl CheckpointText {
    /// Parses a checkpoint body.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if let Some(&byte) = text.as_bytes().iter().find(|&&b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::ControlCharacter { byte });
        }
        let mut parts = text.splitn(4, '\n');
        let (Some(origin), Some(size), Some(root), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CheckpointError::TooFewLines);
        };
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size = parse_size(size).ok_or_else(|| CheckpointError::InvalidSize(truncate(size)))?;
        let root_hash = BASE64
            .decode(root)
            .map_err(|_| CheckpointError::InvalidRootHash(truncate(root)))?;
        Ok(CheckpointText {
            origin: origin.to_owned(),
            size,
            root_hash,
            rest: rest.to_owned(),
        })
    }
}

/// ASCII decimal, no sign, no leading zeros (except `0` itself), within `u64`.
fn parse_size(s: &str) -> Option<u64> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A checkpoint of this crate's kind: a SHA-256 root and well-formed extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        Checkpoint::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines (discouraged by the spec: monitors cannot audit them).
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, CheckpointError> {
        let mut text = format!("{origin}\n{size}\n{}\n", root.to_base64());
        for e in &extensions {
            text.push_str(e);
            text.push('\n');
        }
        // Round-trip through the parser so a constructed checkpoint obeys the same rules as a
        // received one (no newline inside an origin or extension, no control characters).
        let parsed = Checkpoint::parse(&text)?;
        if parsed.extensions != extensions || parsed.origin != origin {
            return Err(CheckpointError::EmbeddedNewline);
        }
        Ok(parsed)
    }

    /// Parses and checks a checkpoint body.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        Checkpoint::try_from(CheckpointText::parse(text)?)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Root hash at that size.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size, base64 root and extension lines, each ending in newline.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        )?;
        for e in &self.extensions {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl TryFrom<CheckpointText> for Checkpoint {
    type Error = CheckpointError;

    fn try_from(t: CheckpointText) -> Result<Self, Self::Error> {
        let root = Hash::from_slice(&t.root_hash)
            .map_err(|_| CheckpointError::RootHashLength(t.root_hash.len()))?;
        let mut extensions = Vec::new();
        if !t.rest.is_empty() {
            let body = t
                .rest
                .strip_suffix('\n')
                .ok_or(CheckpointError::MissingFinalNewline)?;
            for (i, line) in body.split('\n').enumerate() {
                if line.is_empty() {
                    return Err(CheckpointError::EmptyExtensionLine(i + 1));
                }
                extensions.push(line.to_owned());
            }
        }
        Ok(Checkpoint {
            origin: t.origin,
            size: t.size,
            root,
            extensions,
        })
    }
}

/// A checkpoint in its signed-note form, parsed but not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    note: Note,
    raw: String,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint note (signatures unchecked, body checked).
    pub fn parse(note: &str) -> Result<Self, CheckpointError> {
        let parsed = Note::parse(note.as_bytes())?;
        Checkpoint::parse(parsed.unverified_text())?;
        Ok(SignedCheckpoint {
            note: parsed,
            raw: note.to_owned(),
        })
    }

    /// Signs `checkpoint` with the log key, whose name must be the checkpoint's origin.
    pub fn sign(checkpoint: &Checkpoint, log_key: &SignerKey) -> Result<Self, CheckpointError> {
        if log_key.name().as_str() != checkpoint.origin() {
            return Err(CheckpointError::SignerIsNotOrigin {
                key: log_key.name().to_string(),
                origin: checkpoint.origin().to_owned(),
            });
        }
        let raw = log_key.sign(&checkpoint.to_text())?;
        SignedCheckpoint::parse(&raw)
    }

    /// The checkpoint, UNVERIFIED: for display and for tooling that cannot check signatures.
    pub fn unverified_checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse(self.note.unverified_text())
    }

    /// The note as it was received or produced.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Verifies the log key's signature and that the origin is the key's name.
    pub fn verify(&self, log_key: &VerifierKey) -> Result<VerifiedCheckpoint, CheckpointError> {
        self.verify_origin(log_key, log_key.name().as_str())
    }

    /// Verifies the log key's signature and that the checkpoint is for `origin`. Signatures by
    /// other keys (witnesses, a rotated key) are ignored, as the spec requires.
    pub fn verify_origin(
        &self,
        log_key: &VerifierKey,
        origin: &str,
    ) -> Result<VerifiedCheckpoint, CheckpointError> {
        let verified = self
            .note
            .verify(std::slice::from_ref(log_key))
            .map_err(|e| match e {
                NoteError::NoTrustedSignature => CheckpointError::NotSignedByLogKey {
                    key: format!("{}+{:08x}", log_key.name(), log_key.key_id()),
                },
                other => CheckpointError::Note(other),
            })?;
        let checkpoint = Checkpoint::parse(verified.text())?;
        if checkpoint.origin() != origin {
            return Err(CheckpointError::OriginMismatch {
                expected: origin.to_owned(),
                got: checkpoint.origin().to_owned(),
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            note: self.raw.clone(),
        })
    }
}

/// A checkpoint whose log signature and origin have been checked. Only
/// [`SignedCheckpoint::verify`] makes one, so code taking this type cannot skip the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    note: String,
}

impl VerifiedCheckpoint {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note it came from.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Origin.
    pub fn origin(&self) -> &str {
        self.checkpoint.origin()
    }

    /// Tree size.
    pub fn size(&self) -> u64 {
        self.checkpoint.size()
    }

    /// Root hash.
    pub fn root(&self) -> Hash {
        self.checkpoint.root()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::note::KeyName;

    fn key(name: &str) -> SignerKey {
        SignerKey::from_seed(KeyName::new(name).unwrap(), &[7; 32])
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let k = key("custody.example/log");
        let cp = Checkpoint::new("custody.example/log", 42, leaf_hash(b"r")).unwrap();
        let signed = SignedCheckpoint::sign(&cp, &k).unwrap();
        assert!(signed.as_str().starts_with("custody.example/log\n42\n"));
        let v = signed.verify(&k.verifier()).unwrap();
        assert_eq!(v.checkpoint(), &cp);
        assert_eq!(v.note(), signed.as_str());
    }

    #[test]
    fn verification_names_key_and_origin() {
        let k = key("custody.example/log");
        let other = SignerKey::from_seed(KeyName::new("custody.example/log").unwrap(), &[8; 32]);
        let cp = Checkpoint::new("custody.example/log", 1, leaf_hash(b"r")).unwrap();
        let signed = SignedCheckpoint::sign(&cp, &k).unwrap();
        let err = signed.verify(&other.verifier()).unwrap_err();
        assert!(
            matches!(err, CheckpointError::NotSignedByLogKey { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("custody.example/log+"));
        let err = signed
            .verify_origin(&k.verifier(), "custody.example/other")
            .unwrap_err();
        assert!(matches!(err, CheckpointError::OriginMismatch { .. }));
        let elsewhere = Checkpoint::new("elsewhere", 1, leaf_hash(b"r")).unwrap();
        assert!(matches!(
            SignedCheckpoint::sign(&elsewhere, &k),
            Err(CheckpointError::SignerIsNotOrigin { .. })
        ));
    }

    #[test]
    fn checked_checkpoints_refuse_what_the_spec_refuses() {
        let root = leaf_hash(b"r").to_base64();
        for (body, want) in [
            (format!("o\n007\n{root}\n"), "leading zero"),
            (format!("o\n+7\n{root}\n"), "sign"),
            ("o\n7\nYmFuYW5hcw==\n".to_owned(), "short root"),
            (format!("o\n7\n{root}\n\n"), "empty extension"),
            (format!("o\n7\n{root}\next"), "no final newline"),
            (format!("o\r\n7\n{root}\n"), "control char"),
        ] {
            assert!(Checkpoint::parse(&body).is_err(), "{want}");
        }
        let ok = Checkpoint::parse(&format!("o\n0\n{root}\nx\ny\n")).unwrap();
        assert_eq!(ok.extensions(), ["x", "y"]);
        assert_eq!(ok.to_text(), format!("o\n0\n{root}\nx\ny\n"));
        assert!(Checkpoint::new("a\nb", 1, leaf_hash(b"r")).is_err());
        assert!(Checkpoint::with_extensions("o", 1, leaf_hash(b"r"), vec!["".into()]).is_err());
        assert!(Checkpoint::with_extensions("o", 1, leaf_hash(b"r"), vec!["a\nb".into()]).is_err());
    }
}
