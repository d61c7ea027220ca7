//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, byte-compatible with
//! golang.org/x/mod/sumdb/note: the same verifier-key and `PRIVATE+KEY` formats, the same
//! parsing rules and the same verification outcome for every vector in its test suite.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::hash::truncate;

/// Signature type byte of Ed25519 in the signed-note registry.
const ALG_ED25519: u8 = 0x01;
/// Prefix of every signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Largest note accepted (text and signatures). The spec asks verifiers to accept at least 16
/// signatures of up to ~5 kB (post-quantum); a megabyte leaves room for that many times over.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// Most signature lines accepted, as in golang.org/x/mod/sumdb/note.
pub const MAX_SIGNATURES: usize = 100;

/// Why a note, a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("note is {len} bytes, more than the {max} accepted", max = MAX_NOTE_BYTES)]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// Not UTF-8.
    #[error("note is not valid UTF-8 (byte {offset})")]
    InvalidUtf8 {
        /// Offset of the first bad byte.
        offset: usize,
    },
    /// An ASCII control character other than newline.
    #[error("note contains control character {byte:#04x} at byte {offset}")]
    ControlCharacter {
        /// The character.
        byte: u8,
        /// Where.
        offset: usize,
    },
    /// No blank line separates text and signatures, or nothing follows it.
    #[error("note has no signature block after a blank line")]
    MissingSignatures,
    /// The signature block does not end in a newline.
    #[error("note's last signature line does not end with a newline")]
    MissingFinalNewline,
    /// A line of the signature block is not `— name base64`.
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignatureLine {
        /// 1-based line number within the signature block.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {max} signature lines", max = MAX_SIGNATURES)]
    TooManySignatures,
    /// A key name that is empty or holds a space or `+`.
    #[error("key name {0:?} is empty or contains a space or '+'")]
    InvalidKeyName(String),
    /// A verifier key string that does not parse.
    #[error("verifier key {key:?} is malformed: {reason}")]
    InvalidVerifierKey {
        /// The key (truncated).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A signer key string that does not parse (the key itself is never echoed).
    #[error("signer key is malformed: {0}")]
    InvalidSignerKey(&'static str),
    /// A key of a type this crate cannot use.
    #[error("key {name} uses signature type {alg:#04x}; only Ed25519 (0x01) is supported")]
    UnsupportedKeyType {
        /// Key name.
        name: String,
        /// Type byte.
        alg: u8,
    },
    /// A key whose ID is not the one the spec derives from its name and public key.
    #[error("key {name} has key ID {given:08x} but its name and public key give {computed:08x}")]
    KeyIdMismatch {
        /// Key name.
        name: String,
        /// The ID written in the key string.
        given: u32,
        /// The ID computed from name and key.
        computed: u32,
    },
    /// Two trusted keys share name and ID, so a signature cannot be attributed.
    #[error("ambiguous key {name}+{key_id:08x}: more than one trusted key has this name and ID")]
    AmbiguousKey {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// A trusted key's signature does not verify: the whole note is rejected.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// No signature from a trusted key.
    #[error("note has no signature from a trusted key")]
    NoTrustedSignature,
    /// Text to be signed that a note cannot carry.
    #[error("note text cannot be signed: {0}")]
    InvalidText(&'static str),
    /// The operating system's random number generator failed.
    #[error("generating a key failed: {0}")]
    Randomness(String),
}

/// A key name: non-empty, no Unicode white space, no `+`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

impl KeyName {
    /// Checks a key name.
    pub fn new(name: &str) -> Result<Self, NoteError> {
        if name.is_empty() || name.chars().any(char::is_whitespace) || name.contains('+') {
            return Err(NoteError::InvalidKeyName(truncate(name)));
        }
        Ok(KeyName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyName({:?})", self.0)
    }
}

/// `SHA-256(name || 0x0A || type || public key)[:4]` as a big-endian integer.
fn key_id(name: &KeyName, typed_key: &[u8]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.0.as_bytes())
        .chain_update(b"\n")
        .chain_update(typed_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Splits at the first `sep`, like Go's `strings.Cut` (everything in `head` when absent).
fn chop(s: &str, sep: char) -> (&str, &str) {
    s.split_once(sep).unwrap_or((s, ""))
}

/// Parses exactly 8 hex digits, as Go's `strconv.ParseUint(s, 16, 32)` with the length check
/// sumdb/note applies.
fn parse_key_id(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// A trusted Ed25519 verifier key, written `name+hex(key ID)+base64(0x01 || public key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: KeyName,
    key_id: u32,
    key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key for `name` and an Ed25519 public key, with the key ID the spec derives.
    pub fn new(name: KeyName, key: VerifyingKey) -> Self {
        let key_id = key_id(&name, &typed_public_key(&key));
        VerifierKey { name, key_id, key }
    }

    /// The key name (for a log: its origin).
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether `sig` is this key's strict Ed25519 signature of `msg`.
    fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

fn typed_public_key(key: &VerifyingKey) -> Vec<u8> {
    let mut typed = Vec::with_capacity(33);
    typed.push(ALG_ED25519);
    typed.extend_from_slice(key.as_bytes());
    typed
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(typed_public_key(&self.key))
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(vkey: &str) -> Result<Self, Self::Err> {
        let bad = |reason| NoteError::InvalidVerifierKey {
            key: truncate(vkey),
            reason,
        };
        let (name, rest) = chop(vkey, '+');
        let (id_hex, key_b64) = chop(rest, '+');
        let name = KeyName::new(name)?;
        let given = parse_key_id(id_hex).ok_or_else(|| bad("key ID is not 8 hex digits"))?;
        let typed = BASE64
            .decode(key_b64)
            .map_err(|_| bad("key is not standard base64"))?;
        let (&alg, raw) = typed.split_first().ok_or_else(|| bad("key is empty"))?;
        let computed = key_id(&name, &typed);
        if given != computed {
            return Err(NoteError::KeyIdMismatch {
                name: name.0,
                given,
                computed,
            });
        }
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedKeyType { name: name.0, alg });
        }
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| bad("Ed25519 public key is not 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw)
            .map_err(|_| bad("Ed25519 public key is not a valid point"))?;
        Ok(VerifierKey {
            name,
            key_id: given,
            key,
        })
    }
}

impl serde::Serialize for VerifierKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for VerifierKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 note signer. Its text form is sumdb/note's
/// `PRIVATE+KEY+name+hex(key ID)+base64(0x01 || 32-byte seed)`, so keys move between custody
/// and Go tooling (`note.NewSigner`) unchanged.
#[derive(Clone)]
pub struct SignerKey {
    name: KeyName,
    key_id: u32,
    key: SigningKey,
}

impl SignerKey {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: KeyName, seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(&name, &typed_public_key(&key.verifying_key()));
        SignerKey { name, key_id, key }
    }

    /// A new signer with a seed from the operating system's random number generator.
    pub fn generate(name: KeyName) -> Result<Self, NoteError> {
        use rand_core::TryRngCore as _;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|e| NoteError::Randomness(e.to_string()))?;
        Ok(SignerKey::from_seed(name, &seed))
    }

    /// Parses the `PRIVATE+KEY+…` form.
    pub fn from_private_key(skey: &str) -> Result<Self, NoteError> {
        let bad = NoteError::InvalidSignerKey;
        let (p1, rest) = chop(skey, '+');
        let (p2, rest) = chop(rest, '+');
        let (name, rest) = chop(rest, '+');
        let (id_hex, key_b64) = chop(rest, '+');
        if p1 != "PRIVATE" || p2 != "KEY" {
            return Err(bad("does not start with PRIVATE+KEY+"));
        }
        let name = KeyName::new(name)?;
        let given = parse_key_id(id_hex).ok_or(bad("key ID is not 8 hex digits"))?;
        let typed = Zeroizing::new(
            BASE64
                .decode(key_b64)
                .map_err(|_| bad("key is not standard base64"))?,
        );
        let (&alg, seed) = typed.split_first().ok_or(bad("key is empty"))?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedKeyType { name: name.0, alg });
        }
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| bad("Ed25519 seed is not 32 bytes"))?;
        let signer = SignerKey::from_seed(name, seed);
        if signer.key_id != given {
            return Err(NoteError::KeyIdMismatch {
                name: signer.name.0,
                given,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The `PRIVATE+KEY+…` form; keep it secret.
    pub fn to_private_key(&self) -> Zeroizing<String> {
        let mut typed = Zeroizing::new(Vec::with_capacity(33));
        typed.push(ALG_ED25519);
        typed.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(typed.as_slice())
        ))
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 signing key (for PKCS#8/PEM export by callers).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs `text` and returns the whole note: text, blank line, one signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        sign_note(text, &[self])
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({}+{:08x}, <secret>)", self.name, self.key_id)
    }
}

/// Checks note text the way [`Note::parse`] will read it back.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("it does not end with a newline"));
    }
    if let Some(offset) = text.bytes().position(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter {
            byte: text.as_bytes()[offset],
            offset,
        });
    }
    Ok(())
}

/// Signs `text` with every signer, returning the signed note.
pub fn sign_note(text: &str, signers: &[&SignerKey]) -> Result<String, NoteError> {
    check_text(text)?;
    if signers.is_empty() {
        return Err(NoteError::InvalidText("no signer given"));
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 120);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&s.key_id.to_be_bytes());
        raw.extend_from_slice(&s.key.sign(text.as_bytes()).to_bytes());
        out.push_str(SIG_PREFIX);
        out.push_str(s.name.as_str());
        out.push(' ');
        out.push_str(&BASE64.encode(raw));
        out.push('\n');
    }
    if out.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge { len: out.len() });
    }
    Ok(out)
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID (first four signature bytes).
    pub key_id: u32,
    /// The signature without the key ID.
    pub signature: Vec<u8>,
    /// The line's base64 (key ID and signature), as written.
    pub base64: String,
}

/// A syntactically valid C2SP signed note (c2sp.org/signed-note) whose signatures have not
/// been checked.
///
/// Parsing and verification follow golang.org/x/mod/sumdb/note (`note.Open`) rule for rule, so
/// a note accepted or refused there is accepted or refused here; every case of its test suite
/// is among this crate's vectors. The text must be ignored until [`Note::verify`] has found a
/// trusted signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note: UTF-8 without control characters other than newline, text ending
    /// in a newline, a blank line, then one or more `— name base64(keyid || sig)` lines.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len: msg.len() });
        }
        let msg = std::str::from_utf8(msg).map_err(|e| NoteError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        if let Some(offset) = msg.bytes().position(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::ControlCharacter {
                byte: msg.as_bytes()[offset],
                offset,
            });
        }
        // The text ends at the last blank line; the text itself may contain blank lines.
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatures)?;
        let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
        if sigs.is_empty() {
            return Err(NoteError::MissingSignatures);
        }
        if !sigs.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        let mut signatures = Vec::new();
        for (n, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            let bad = |reason| NoteError::MalformedSignatureLine {
                line: n + 1,
                reason,
            };
            if n >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            let line = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("it does not start with an em dash and a space"))?;
            let (name, b64) = chop(line, ' ');
            KeyName::new(name).map_err(|_| bad("the key name is empty or has a '+'"))?;
            if b64.is_empty() {
                return Err(bad("the signature is missing"));
            }
            let raw = BASE64
                .decode(b64)
                .map_err(|_| bad("the signature is not standard base64"))?;
            if raw.len() < 5 {
                return Err(bad("the signature is shorter than a key ID and one byte"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                signature: raw[4..].to_vec(),
                base64: b64.to_owned(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The text, unverified (ends with a newline).
    pub fn unverified_text(&self) -> &str {
        &self.text
    }

    /// Every signature line, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Checks the signatures against trusted keys, with sumdb/note's rules: a signature whose
    /// (name, key ID) matches no trusted key is kept as unverified and never checked; one that
    /// matches must verify or the whole note is rejected; a (name, key ID) shared by two
    /// trusted keys is an error; repeats are dropped; at least one must verify.
    pub fn verify(&self, trusted: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
        let mut verified: Vec<NoteSignature> = Vec::new();
        let mut unverified: Vec<NoteSignature> = Vec::new();
        for sig in &self.signatures {
            let mut matching = trusted
                .iter()
                .filter(|k| k.name.as_str() == sig.name && k.key_id == sig.key_id);
            let Some(key) = matching.next() else {
                if !unverified
                    .iter()
                    .any(|u| u.name == sig.name && u.base64 == sig.base64)
                {
                    unverified.push(sig.clone());
                }
                continue;
            };
            if matching.next().is_some() {
                return Err(NoteError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if verified
                .iter()
                .any(|v| v.name == sig.name && v.key_id == sig.key_id)
            {
                continue;
            }
            if !key.verifies(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            verified.push(sig.clone());
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(VerifiedNote {
            text: self.text.clone(),
            verified,
            unverified,
        })
    }
}

/// A note with at least one signature from a trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    verified: Vec<NoteSignature>,
    unverified: Vec<NoteSignature>,
}

impl VerifiedNote {
    /// The signed text (ends with a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Signatures from trusted keys, each verified, in note order without repeats.
    pub fn verified(&self) -> &[NoteSignature] {
        &self.verified
    }

    /// Signatures from unknown keys (not checked), without exact repeats.
    pub fn unverified(&self) -> &[NoteSignature] {
        &self.unverified
    }
}

/// Parses and verifies a note in one step (sumdb/note's `Open`).
pub fn open_note(msg: &[u8], trusted: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
    Note::parse(msg)?.verify(trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

    #[test]
    fn go_signer_key_reproduces_go_note() {
        // golang.org/x/mod sumdb/note note_test.go TestSign.
        let signer = SignerKey::from_private_key(PETER_SKEY).unwrap();
        assert_eq!(signer.verifier().to_string(), PETER_VKEY);
        assert_eq!(signer.to_private_key().as_str(), PETER_SKEY);
        let note = signer.sign(TEXT).unwrap();
        assert_eq!(
            note,
            format!(
                "{TEXT}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            )
        );
        let v: VerifierKey = PETER_VKEY.parse().unwrap();
        let opened = open_note(note.as_bytes(), &[v]).unwrap();
        assert_eq!(opened.text(), TEXT);
    }

    #[test]
    fn keys_reject_garbage_and_mismatched_ids() {
        for bad in [
            "",
            "name",
            "name+1234567+AQ==",
            "name+c74f20a3+!!",
            "na me+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3+",
        ] {
            assert!(bad.parse::<VerifierKey>().is_err(), "{bad:?}");
        }
        assert!(matches!(
            "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
                .parse::<VerifierKey>(),
            Err(NoteError::KeyIdMismatch { .. })
        ));
        assert!(SignerKey::from_private_key(&PETER_SKEY.replace("c74f20a3", "c74f20a4")).is_err());
        assert!(SignerKey::from_private_key(&PETER_SKEY.replace("PRIVATE", "PUBLIC")).is_err());
        assert!(SignerKey::from_private_key("PRIVATE+KEY+x+00000000+AQ==").is_err());
        // The secret never appears in errors or debug output.
        let err = SignerKey::from_private_key(&PETER_SKEY.replace("+AYEK", "+BYEK")).unwrap_err();
        assert!(!err.to_string().contains("BYEK"));
        let s = SignerKey::from_private_key(PETER_SKEY).unwrap();
        assert!(!format!("{s:?}").contains("AYEK"));
    }

    #[test]
    fn generated_keys_round_trip() {
        let s = SignerKey::generate(KeyName::new("custody.example/log").unwrap()).unwrap();
        let s2 = SignerKey::from_private_key(&s.to_private_key()).unwrap();
        assert_eq!(s.verifier(), s2.verifier());
        let v: VerifierKey = s.verifier().to_string().parse().unwrap();
        assert_eq!(v, s.verifier());
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<VerifierKey>(&json).unwrap(), v);
        assert!(serde_json::from_str::<VerifierKey>("\"x+00000000+AQ==\"").is_err());
    }

    #[test]
    fn signing_refuses_text_a_note_cannot_carry() {
        let s = SignerKey::from_private_key(PETER_SKEY).unwrap();
        assert!(s.sign("no newline").is_err());
        assert!(s.sign("tab\there\n").is_err());
        assert!(sign_note("x\n", &[]).is_err());
        // Blank lines inside the text are allowed and survive a round trip.
        let note = s.sign("a\n\nb\n").unwrap();
        let v = s.verifier();
        assert_eq!(open_note(note.as_bytes(), &[v]).unwrap().text(), "a\n\nb\n");
    }

    #[test]
    fn key_names_follow_the_spec() {
        assert!(KeyName::new("example.com/log").is_ok());
        for bad in ["", "a b", "a+b", "a\u{00a0}b", "a\tb"] {
            assert!(KeyName::new(bad).is_err(), "{bad:?}");
        }
    }
}
