//! Signing and verifying keys: ed25519 and ECDSA P-256, stored as PKCS#8 and SPKI PEM.
//!
//! Private keys are PKCS#8 (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with PBES2: scrypt or
//! PBKDF2-SHA256 with AES-CBC), public keys are SubjectPublicKeyInfo (`PUBLIC KEY`): the
//! formats openssl, cosign, Go and Python's `cryptography` all read and write. A key is named by
//! its [`KeyId`] (SHA-256 of the SPKI DER); for envelopes read by securesystemslib-based tools
//! the securesystemslib key ID is also computed (see [`PublicKey::securesystemslib_keyid`]).

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use custody_types::KeyId;
use pkcs8::der::Decode;
use pkcs8::der::SecretDocument;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::zeroize::Zeroizing;
use pkcs8::pkcs5::{EncryptionScheme, pbes2};
use pkcs8::{
    EncodePrivateKey, EncodePublicKey, EncryptedPrivateKeyInfoRef, LineEnding, ObjectIdentifier,
    PrivateKeyInfoRef, SubjectPublicKeyInfoRef,
};
use sha2::{Digest as _, Sha256};

const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// Largest key file custody reads: real PEM keys are well under 4 KiB, so anything bigger is
/// refused before it is buffered.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The most PBKDF2 iterations an encrypted key may ask for (OWASP recommends 600,000 for
/// PBKDF2-HMAC-SHA256; a hostile file asking for 2^32 would otherwise hang the signer).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// The largest scrypt memory (128 * N * r bytes) an encrypted key may ask for: 1 GiB.
const MAX_SCRYPT_MEMORY: u128 = 1 << 30;
/// The largest scrypt parallelization an encrypted key may ask for.
const MAX_SCRYPT_P: u16 = 16;

/// A signature algorithm custody signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// Ed25519 (RFC 8032): custody's default; deterministic and fast.
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256 (cosign's default key type and the DSSE spec's test
    /// key); signatures are deterministic (RFC 6979).
    P256,
}

impl KeyType {
    /// The name used on the command line and in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::P256 => "p256",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" => Ok(KeyType::Ed25519),
            "p256" | "p-256" | "ecdsa-p256" | "ecdsa-sha2-nistp256" => Ok(KeyType::P256),
            _ => Err(KeyError::UnknownKeyType(s.to_owned())),
        }
    }
}

/// Why a key could not be read, parsed or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key type name is not one custody knows.
    #[error("unknown key type {0:?} (expected ed25519 or p256)")]
    UnknownKeyType(String),
    /// The file or variable could not be read.
    #[error("cannot be read: {0}")]
    Read(#[source] std::io::Error),
    /// The environment variable named by `env:NAME` is unset or empty.
    #[error("is missing: the environment variable is unset or empty")]
    EnvMissing,
    /// The key file is larger than [`MAX_KEY_FILE_BYTES`].
    #[error("is {0} bytes, larger than any key ({MAX_KEY_FILE_BYTES} bytes at most)")]
    TooLarge(u64),
    /// The text is not PEM.
    #[error("is not a PEM key: {0}")]
    NotPem(String),
    /// The PEM label is not one of the PKCS#8 / SPKI labels.
    #[error(
        "has PEM label {0:?}; expected PRIVATE KEY, ENCRYPTED PRIVATE KEY or PUBLIC KEY (PKCS#8 / SPKI)"
    )]
    UnsupportedLabel(String),
    /// A private key in a pre-PKCS#8 format (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, OpenSSH).
    #[error(
        "is a {0} private key in a legacy format; custody reads PKCS#8 (convert with `openssl pkcs8 -topk8`)"
    )]
    LegacyFormat(&'static str),
    /// An RSA key.
    #[error("is an RSA key; custody signs and verifies only ed25519 and ECDSA P-256 keys")]
    Rsa,
    /// Any other algorithm or curve.
    #[error(
        "uses an unsupported algorithm ({0}); custody signs and verifies only ed25519 and ECDSA P-256 keys"
    )]
    UnsupportedAlgorithm(String),
    /// A public key was given where a private key is needed.
    #[error("is a public key; signing needs the private key (PKCS#8 PEM)")]
    PublicKeyForSigning,
    /// A private key was given where a public key is expected.
    #[error("is a private key; verifying needs the public key (SPKI PEM, the .pub file)")]
    PrivateKeyForVerifying,
    /// An encrypted key and no password.
    #[error("is encrypted and no password was given (set CUSTODY_KEY_PASSWORD)")]
    PasswordRequired,
    /// Decryption failed.
    #[error("cannot be decrypted: wrong password or corrupt key")]
    Decrypt,
    /// The encryption parameters would take too long or too much memory to try.
    #[error("is encrypted with key-derivation parameters too costly to try ({0})")]
    KdfTooCostly(String),
    /// The DER inside the PEM is malformed, or the key material is invalid.
    #[error("is corrupt: {0}")]
    Malformed(String),
    /// The key is of another type than the one asked for.
    #[error("is an {actual} key, not {expected} as requested")]
    TypeMismatch {
        /// The type asked for.
        expected: KeyType,
        /// The key's type.
        actual: KeyType,
    },
    /// A securesystemslib JSON key that does not describe a supported public key.
    #[error("is not a usable securesystemslib public key: {0}")]
    BadSecuresystemslibKey(String),
    /// Encoding a key failed.
    #[error("cannot be encoded: {0}")]
    Encode(String),
    /// The operating system's random number generator failed.
    #[error("cannot be generated: no randomness from the operating system ({0})")]
    Rng(String),
}

/// A [`KeyError`] together with where the key came from (a path or `env:NAME`), so that the
/// message names the key.
#[derive(Debug, thiserror::Error)]
#[error("key {origin} {reason}")]
pub struct KeyLoadError {
    /// The key's file path or `env:NAME`.
    pub origin: String,
    /// What went wrong.
    pub reason: KeyError,
}

/// Where a key comes from: a file, or an environment variable holding the PEM text (how CI
/// systems pass secrets), written `env:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file path.
    File(PathBuf),
    /// The name of an environment variable holding the PEM text.
    Env(String),
}

impl FromStr for KeySource {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.strip_prefix("env:") {
            Some(name) => KeySource::Env(name.to_owned()),
            None => KeySource::File(PathBuf::from(s)),
        })
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "{}", p.display()),
            KeySource::Env(name) => write!(f, "env:{name}"),
        }
    }
}

impl KeySource {
    /// Reads the key text (bounded by [`MAX_KEY_FILE_BYTES`]); the buffer is wiped on drop.
    pub fn read_text(&self) -> Result<Zeroizing<String>, KeyLoadError> {
        self.read_inner().map_err(|reason| self.error(reason))
    }

    fn read_inner(&self) -> Result<Zeroizing<String>, KeyError> {
        match self {
            KeySource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    if v.len() as u64 > MAX_KEY_FILE_BYTES {
                        return Err(KeyError::TooLarge(v.len() as u64));
                    }
                    Ok(Zeroizing::new(v))
                }
                Ok(_) | Err(std::env::VarError::NotPresent) => Err(KeyError::EnvMissing),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(KeyError::NotPem("the variable is not UTF-8".into()))
                }
            },
            KeySource::File(path) => {
                let file = std::fs::File::open(path).map_err(KeyError::Read)?;
                let len = file.metadata().map_err(KeyError::Read)?.len();
                if len > MAX_KEY_FILE_BYTES {
                    return Err(KeyError::TooLarge(len));
                }
                let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize));
                file.take(MAX_KEY_FILE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(KeyError::Read)?;
                if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
                    return Err(KeyError::TooLarge(bytes.len() as u64));
                }
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| KeyError::NotPem("the file is not text".into()))?;
                Ok(Zeroizing::new(text.to_owned()))
            }
        }
    }

    fn error(&self, reason: KeyError) -> KeyLoadError {
        KeyLoadError {
            origin: self.to_string(),
            reason,
        }
    }
}

/// Loads a private key from `source`, decrypting it with `password` when it is encrypted.
pub fn load_signing_key(
    source: &KeySource,
    password: Option<&[u8]>,
) -> Result<SigningKey, KeyLoadError> {
    let text = source.read_text()?;
    SigningKey::from_pem(&text, password).map_err(|reason| source.error(reason))
}

/// Loads a public key from `source`: SPKI PEM, or a securesystemslib JSON key.
pub fn load_public_key(source: &KeySource) -> Result<PublicKey, KeyLoadError> {
    let text = source.read_text()?;
    PublicKey::from_text(&text).map_err(|reason| source.error(reason))
}

#[derive(Clone)]
enum SigningInner {
    Ed25519(Box<ed25519_dalek::SigningKey>),
    P256(Box<p256::ecdsa::SigningKey>),
}

/// A private key custody signs with. Its secret material is wiped when dropped (by the
/// underlying dalek / RustCrypto types).
#[derive(Clone)]
pub struct SigningKey {
    inner: SigningInner,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({} {})",
            self.key_type(),
            self.public.key_id()
        )
    }
}

impl SigningKey {
    /// A new random key of `key_type`, from the operating system's random number generator.
    pub fn generate(key_type: KeyType) -> Result<SigningKey, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        match key_type {
            KeyType::Ed25519 => {
                getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Rng(e.to_string()))?;
                Ok(SigningKey::from_inner(SigningInner::Ed25519(Box::new(
                    ed25519_dalek::SigningKey::from_bytes(&seed),
                ))))
            }
            KeyType::P256 => {
                // A uniformly random 256-bit string is a valid P-256 scalar except with
                // probability ~2^-32; redraw in that case.
                loop {
                    getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Rng(e.to_string()))?;
                    if let Ok(key) = p256::ecdsa::SigningKey::from_slice(seed.as_ref()) {
                        return Ok(SigningKey::from_inner(SigningInner::P256(Box::new(key))));
                    }
                }
            }
        }
    }

    fn from_inner(inner: SigningInner) -> SigningKey {
        let public = match &inner {
            SigningInner::Ed25519(k) => {
                PublicKey::from_inner(PublicInner::Ed25519(k.verifying_key()))
            }
            SigningInner::P256(k) => PublicKey::from_inner(PublicInner::P256(*k.verifying_key())),
        };
        SigningKey { inner, public }
    }

    /// Parses a PKCS#8 PEM private key; `password` decrypts an `ENCRYPTED PRIVATE KEY`.
    pub fn from_pem(text: &str, password: Option<&[u8]>) -> Result<SigningKey, KeyError> {
        let (label, der) = decode_pem(text)?;
        let der = Zeroizing::new(der);
        match label.as_str() {
            "PRIVATE KEY" => SigningKey::from_pkcs8_der(&der),
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err(KeyError::PasswordRequired);
                };
                let encrypted = EncryptedPrivateKeyInfoRef::from_der(&der)
                    .map_err(|e| KeyError::Malformed(e.to_string()))?;
                check_kdf_cost(&encrypted.encryption_algorithm)?;
                let plain = encrypted.decrypt(password).map_err(|_| KeyError::Decrypt)?;
                SigningKey::from_pkcs8_der(plain.as_bytes()).map_err(|e| match e {
                    // A wrong password usually fails the padding check; when it does not, the
                    // garbage it yields fails to parse.
                    KeyError::Malformed(_) => KeyError::Decrypt,
                    other => other,
                })
            }
            "PUBLIC KEY" => Err(KeyError::PublicKeyForSigning),
            other => Err(label_error(other)),
        }
    }

    /// Parses an unencrypted PKCS#8 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let info =
            PrivateKeyInfoRef::from_der(der).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let oid = info.algorithm.oid;
        if oid == OID_ED25519 {
            let key = ed25519_dalek::SigningKey::try_from(info)
                .map_err(|e| KeyError::Malformed(e.to_string()))?;
            return Ok(SigningKey::from_inner(SigningInner::Ed25519(Box::new(key))));
        }
        if oid == OID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve != Some(OID_P256) {
                return Err(KeyError::UnsupportedAlgorithm(curve_name(curve)));
            }
            let key = p256::ecdsa::SigningKey::try_from(info)
                .map_err(|e| KeyError::Malformed(e.to_string()))?;
            return Ok(SigningKey::from_inner(SigningInner::P256(Box::new(key))));
        }
        Err(algorithm_error(oid))
    }

    /// The key's algorithm.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            SigningInner::Ed25519(_) => KeyType::Ed25519,
            SigningInner::P256(_) => KeyType::P256,
        }
    }

    /// Checks that the key is of `expected` type (`--key-type` on signing commands).
    pub fn expect_type(&self, expected: KeyType) -> Result<(), KeyError> {
        let actual = self.key_type();
        if actual == expected {
            Ok(())
        } else {
            Err(KeyError::TypeMismatch { expected, actual })
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key ID (SHA-256 of the public key's SPKI DER).
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// Signs `message`: a 64-byte ed25519 signature, or a DER ECDSA signature (the encoding
    /// securesystemslib, cosign and Go's crypto/ecdsa write) computed deterministically per
    /// RFC 6979.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        match &self.inner {
            SigningInner::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            SigningInner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }

    /// The key as PKCS#8 PEM; encrypted (PBES2: scrypt + AES-256-CBC, readable by OpenSSL 3
    /// and Python's `cryptography`) when `password` is given. Ed25519 keys are written as
    /// PKCS#8 v1 (RFC 8410, without the optional public key), the form OpenSSL writes and
    /// every reader accepts. The returned text is wiped on drop.
    pub fn to_pkcs8_pem(&self, password: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let encode = |e: pkcs8::Error| KeyError::Encode(e.to_string());
        let der_error = |e: pkcs8::der::Error| KeyError::Encode(e.to_string());
        let der: SecretDocument = match &self.inner {
            SigningInner::Ed25519(k) => {
                // CurvePrivateKey ::= OCTET STRING, wrapped in PrivateKeyInfo's OCTET STRING.
                let mut inner = Zeroizing::new(Vec::with_capacity(34));
                inner.extend_from_slice(&[0x04, 0x20]);
                inner.extend_from_slice(k.as_bytes());
                let info = PrivateKeyInfoRef::new(
                    pkcs8::AlgorithmIdentifierRef {
                        oid: OID_ED25519,
                        parameters: None,
                    },
                    OctetStringRef::new(&inner).map_err(der_error)?,
                );
                match password {
                    None => SecretDocument::encode_msg(&info).map_err(der_error)?,
                    Some(pw) => {
                        return info
                            .encrypt(pw)
                            .map_err(encode)?
                            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                            .map_err(der_error);
                    }
                }
            }
            SigningInner::P256(k) => k.to_pkcs8_der().map_err(encode)?,
        };
        match password {
            None => der.to_pem("PRIVATE KEY", LineEnding::LF).map_err(der_error),
            Some(pw) => PrivateKeyInfoRef::from_der(der.as_bytes())
                .map_err(der_error)?
                .encrypt(pw)
                .map_err(encode)?
                .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                .map_err(der_error),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A public key custody verifies with.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    inner: PublicInner,
    spki_der: Vec<u8>,
    key_id: KeyId,
    /// [`PublicKey::sslib_keyid_variants`], computed once: matching a signature's keyid hint
    /// against them is on every verification's path, and each costs a SHA-256.
    sslib_keyids: Arc<[String]>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.key_type(), self.key_id)
    }
}

impl PublicKey {
    fn from_inner(inner: PublicInner) -> PublicKey {
        let spki_der = match &inner {
            PublicInner::Ed25519(k) => k.to_public_key_der(),
            PublicInner::P256(k) => k.to_public_key_der(),
        }
        // Encoding a valid in-memory key into SPKI cannot fail; an empty DER would only make
        // the key ID wrong, never a signature valid.
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
        let key_id = KeyId::from_spki_der(&spki_der);
        let mut key = PublicKey {
            inner,
            spki_der,
            key_id,
            sslib_keyids: Arc::from(Vec::new()),
        };
        key.sslib_keyids = key.sslib_keyid_variants().into();
        key
    }

    /// Parses a public key: SPKI PEM, or a securesystemslib JSON key (`{"keytype": ...}`, as
    /// in-toto and TUF tools write them).
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        if text.trim_start().starts_with('{') {
            return PublicKey::from_securesystemslib_json(text);
        }
        let (label, der) = decode_pem(text)?;
        match label.as_str() {
            "PUBLIC KEY" => PublicKey::from_spki_der(&der),
            "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => Err(KeyError::PrivateKeyForVerifying),
            other => match label_error(other) {
                KeyError::LegacyFormat(_) => Err(KeyError::PrivateKeyForVerifying),
                e => Err(e),
            },
        }
    }

    /// Parses SPKI DER.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| KeyError::Malformed(e.to_string()))?;
        let oid = spki.algorithm.oid;
        let inner = if oid == OID_ED25519 {
            PublicInner::Ed25519(
                ed25519_dalek::VerifyingKey::try_from(spki)
                    .map_err(|e| KeyError::Malformed(e.to_string()))?,
            )
        } else if oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve != Some(OID_P256) {
                return Err(KeyError::UnsupportedAlgorithm(curve_name(curve)));
            }
            PublicInner::P256(
                p256::ecdsa::VerifyingKey::try_from(spki)
                    .map_err(|e| KeyError::Malformed(e.to_string()))?,
            )
        } else {
            return Err(algorithm_error(oid));
        };
        Ok(PublicKey::from_inner(inner))
    }

    /// Parses a securesystemslib JSON public key (`keytype` ed25519 with a hex `keyval.public`,
    /// or ecdsa / ecdsa-sha2-nistp256 with a PEM `keyval.public`).
    pub fn from_securesystemslib_json(text: &str) -> Result<PublicKey, KeyError> {
        #[derive(serde::Deserialize)]
        struct KeyVal {
            public: String,
            #[serde(default)]
            private: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct SslibKey {
            keytype: String,
            keyval: KeyVal,
        }
        let bad = |m: String| KeyError::BadSecuresystemslibKey(m);
        let key: SslibKey = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if key.keyval.private.as_deref().is_some_and(|p| !p.is_empty()) {
            return Err(KeyError::PrivateKeyForVerifying);
        }
        match key.keytype.as_str() {
            "ed25519" => {
                let mut raw = [0u8; 32];
                hex::decode_to_slice(&key.keyval.public, &mut raw)
                    .map_err(|e| bad(format!("keyval.public is not 32 hex bytes: {e}")))?;
                let k = ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map_err(|e| bad(format!("keyval.public is not an ed25519 point: {e}")))?;
                Ok(PublicKey::from_inner(PublicInner::Ed25519(k)))
            }
            "ecdsa" | "ecdsa-sha2-nistp256" => {
                let (label, der) = decode_pem(&key.keyval.public)?;
                if label != "PUBLIC KEY" {
                    return Err(bad(format!("keyval.public has PEM label {label:?}")));
                }
                let k = PublicKey::from_spki_der(&der)?;
                if k.key_type() != KeyType::P256 {
                    return Err(bad("keyval.public is not a P-256 key".into()));
                }
                Ok(k)
            }
            "rsa" => Err(KeyError::Rsa),
            other => Err(KeyError::UnsupportedAlgorithm(format!("keytype {other}"))),
        }
    }

    /// The key's algorithm.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            PublicInner::Ed25519(_) => KeyType::Ed25519,
            PublicInner::P256(_) => KeyType::P256,
        }
    }

    /// The key ID: SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as SPKI PEM (64-column lines, trailing newline: the form openssl and Python's
    /// `cryptography` write).
    pub fn to_spki_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.spki_der);
        let mut out = String::with_capacity(b64.len() + 64);
        out.push_str("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            // base64 output is ASCII, so every chunk is valid UTF-8.
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END PUBLIC KEY-----\n");
        out
    }

    /// The key ID securesystemslib (python and go, hence in-toto and TUF) computes: the
    /// lowercase hex SHA-256 of the canonical JSON of `{"keytype", "keyval": {"public"},
    /// "scheme"}`, where `public` is the hex raw key for ed25519 and the SPKI PEM (with its
    /// trailing newline) for ECDSA.
    pub fn securesystemslib_keyid(&self) -> String {
        self.sslib_keyids.first().cloned().unwrap_or_default()
    }

    /// Every securesystemslib key ID this key is known by: the current form, the form with the
    /// legacy `keyid_hash_algorithms` member (go-securesystemslib and securesystemslib < 0.26),
    /// and for ECDSA the PEM without its trailing newline.
    fn sslib_keyid_variants(&self) -> Vec<String> {
        let (keytype, scheme, publics) = match &self.inner {
            PublicInner::Ed25519(k) => ("ed25519", "ed25519", vec![hex::encode(k.as_bytes())]),
            PublicInner::P256(_) => {
                let pem = self.to_spki_pem();
                let trimmed = pem.trim_end_matches('\n').to_owned();
                ("ecdsa", "ecdsa-sha2-nistp256", vec![pem, trimmed])
            }
        };
        let mut out = Vec::new();
        for legacy in [false, true] {
            for public in &publics {
                out.push(hex::encode(Sha256::digest(sslib_canonical_key(
                    keytype, scheme, public, legacy,
                ))));
            }
        }
        out
    }

    /// The ed25519 verifying key, for batch verification ([`crate::verify_batch`]).
    pub(crate) fn ed25519(&self) -> Option<&ed25519_dalek::VerifyingKey> {
        match &self.inner {
            PublicInner::Ed25519(k) => Some(k),
            PublicInner::P256(_) => None,
        }
    }

    /// Whether a DSSE `keyid` or bundle hint names this key: custody's key ID (hex, with or
    /// without `sha256:`), its base64 form (Sigstore's public-key hint), or any of its
    /// securesystemslib key IDs. The hint is unauthenticated: it only orders the keys tried.
    pub fn matches_hint(&self, hint: &str) -> bool {
        if hint.is_empty() {
            return false;
        }
        // The cheapest comparison first: securesystemslib IDs are custody's default hint.
        if self.sslib_keyids.iter().any(|v| v == hint) {
            return true;
        }
        if hint.parse::<KeyId>().is_ok_and(|id| id == self.key_id) {
            return true;
        }
        base64::engine::general_purpose::STANDARD
            .decode(hint)
            .is_ok_and(|b| b.as_slice() == self.key_id.as_bytes())
    }

    /// Verifies `signature` over `message`. Ed25519 uses strict verification (no small-order
    /// keys, canonical encodings); ECDSA accepts the DER encoding and the fixed 64-byte
    /// `r || s` encoding (the DSSE spec's test vector uses the latter).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use ed25519_dalek::Verifier as _;
        match &self.inner {
            PublicInner::Ed25519(k) => {
                let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
                    return false;
                };
                let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                k.verify_strict(message, &sig).is_ok()
            }
            PublicInner::P256(k) => {
                if signature.len() == 64
                    && p256::ecdsa::Signature::from_slice(signature)
                        .is_ok_and(|sig| k.verify(message, &sig).is_ok())
                {
                    return true;
                }
                p256::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
        }
    }
}

/// securesystemslib's canonical JSON for a public key dict: keys sorted, no whitespace, only
/// `\` and `"` escaped (OLPC canonical JSON).
fn sslib_canonical_key(keytype: &str, scheme: &str, public: &str, legacy: bool) -> Vec<u8> {
    fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            if c == '\\' || c == '"' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    let mut out = String::from("{");
    if legacy {
        out.push_str(r#""keyid_hash_algorithms":["sha256","sha512"],"#);
    }
    out.push_str(r#""keytype":"#);
    string(&mut out, keytype);
    out.push_str(r#","keyval":{"public":"#);
    string(&mut out, public);
    out.push_str(r#"},"scheme":"#);
    string(&mut out, scheme);
    out.push('}');
    out.into_bytes()
}

fn decode_pem(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let trimmed = text.trim();
    if !trimmed.starts_with("-----BEGIN ") {
        return Err(KeyError::NotPem("no -----BEGIN line".into()));
    }
    // Tolerate CRLF line endings (keys pasted into CI secret stores often have them).
    let normalized;
    let input = if trimmed.contains('\r') {
        normalized = Zeroizing::new(trimmed.replace("\r\n", "\n"));
        normalized.as_str()
    } else {
        trimmed
    };
    let (label, der) = pkcs8::der::pem::decode_vec(input.as_bytes())
        .map_err(|e| KeyError::NotPem(e.to_string()))?;
    Ok((label.to_owned(), der))
}

fn label_error(label: &str) -> KeyError {
    match label {
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => KeyError::Rsa,
        "EC PRIVATE KEY" => KeyError::LegacyFormat("SEC1 EC"),
        "OPENSSH PRIVATE KEY" => KeyError::LegacyFormat("OpenSSH"),
        "ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY" => {
            KeyError::LegacyFormat("cosign-encrypted")
        }
        other => KeyError::UnsupportedLabel(other.to_owned()),
    }
}

fn algorithm_error(oid: ObjectIdentifier) -> KeyError {
    if oid == OID_RSA || oid == OID_RSA_PSS {
        KeyError::Rsa
    } else if oid == OID_ED448 {
        KeyError::UnsupportedAlgorithm("Ed448".into())
    } else {
        KeyError::UnsupportedAlgorithm(format!("algorithm OID {oid}"))
    }
}

fn curve_name(curve: Option<ObjectIdentifier>) -> String {
    match curve.map(|c| c.to_string()).as_deref() {
        Some("1.3.132.0.34") => "ECDSA P-384".into(),
        Some("1.3.132.0.35") => "ECDSA P-521".into(),
        Some("1.3.132.0.10") => "ECDSA secp256k1".into(),
        Some(other) => format!("elliptic curve OID {other}"),
        None => "elliptic curve without named-curve parameters".into(),
    }
}

/// Refuses encryption parameters that would take minutes or gigabytes to try, before any
/// work is done: the parameters come from the (possibly hostile) key file.
fn check_kdf_cost(scheme: &EncryptionScheme) -> Result<(), KeyError> {
    match scheme {
        EncryptionScheme::Pbes2(params) => match &params.kdf {
            _ if !matches!(
                params.encryption,
                pbes2::EncryptionScheme::Aes128Cbc { .. }
                    | pbes2::EncryptionScheme::Aes192Cbc { .. }
                    | pbes2::EncryptionScheme::Aes256Cbc { .. }
            ) =>
            {
                Err(KeyError::Malformed(
                    "the key is encrypted with a cipher other than AES-CBC; re-encrypt it with \
                     PBES2 and AES-256-CBC"
                        .into(),
                ))
            }
            pbes2::Kdf::Pbkdf2(p) if p.prf == pbes2::Pbkdf2Prf::HmacWithSha1 => {
                Err(KeyError::Malformed(
                    "the key is encrypted with PBKDF2-HMAC-SHA1, which custody does not accept; \
                     re-encrypt it with PBKDF2-HMAC-SHA256 or scrypt"
                        .into(),
                ))
            }
            pbes2::Kdf::Pbkdf2(p) => {
                if p.iteration_count > MAX_PBKDF2_ITERATIONS {
                    return Err(KeyError::KdfTooCostly(format!(
                        "PBKDF2 with {} iterations, at most {MAX_PBKDF2_ITERATIONS} accepted",
                        p.iteration_count
                    )));
                }
                Ok(())
            }
            pbes2::Kdf::Scrypt(s) => {
                let memory = 128u128 * u128::from(s.cost_parameter) * u128::from(s.block_size);
                if memory > MAX_SCRYPT_MEMORY || s.parallelization > MAX_SCRYPT_P {
                    return Err(KeyError::KdfTooCostly(format!(
                        "scrypt N={} r={} p={}",
                        s.cost_parameter, s.block_size, s.parallelization
                    )));
                }
                Ok(())
            }
            _ => Err(KeyError::Malformed(
                "the key-derivation function is neither PBKDF2 nor scrypt".into(),
            )),
        },
        _ => Err(KeyError::Malformed(
            "PBES1 encryption is obsolete and not supported; re-encrypt the key with PBES2".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem_and_sign() {
        for kt in [KeyType::Ed25519, KeyType::P256] {
            let key = SigningKey::generate(kt).unwrap();
            let pem = key.to_pkcs8_pem(None).unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let back = SigningKey::from_pem(&pem, None).unwrap();
            assert_eq!(back.key_id(), key.key_id());
            let pub_pem = key.public_key().to_spki_pem();
            let public = PublicKey::from_text(&pub_pem).unwrap();
            assert_eq!(public.key_id(), key.key_id());
            assert_eq!(public.key_id(), KeyId::from_spki_der(public.spki_der()));
            let sig = back.sign(b"message");
            assert_eq!(sig, key.sign(b"message"), "{kt} signing is deterministic");
            assert!(public.verify(b"message", &sig));
            assert!(!public.verify(b"messagE", &sig));
        }
    }

    #[test]
    fn encrypted_keys_need_the_right_password() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let pem = key.to_pkcs8_pem(Some(b"hunter2")).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(matches!(
            SigningKey::from_pem(&pem, None),
            Err(KeyError::PasswordRequired)
        ));
        assert!(matches!(
            SigningKey::from_pem(&pem, Some(b"wrong")),
            Err(KeyError::Decrypt)
        ));
        let back = SigningKey::from_pem(&pem, Some(b"hunter2")).unwrap();
        assert_eq!(back.key_id(), key.key_id());
    }

    #[test]
    fn public_and_private_keys_are_not_interchangeable() {
        let key = SigningKey::generate(KeyType::P256).unwrap();
        let pub_pem = key.public_key().to_spki_pem();
        assert!(matches!(
            SigningKey::from_pem(&pub_pem, None),
            Err(KeyError::PublicKeyForSigning)
        ));
        let priv_pem = key.to_pkcs8_pem(None).unwrap();
        assert!(matches!(
            PublicKey::from_text(&priv_pem),
            Err(KeyError::PrivateKeyForVerifying)
        ));
    }

    #[test]
    fn key_type_checks_name_both_types() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let err = key.expect_type(KeyType::P256).unwrap_err();
        assert_eq!(err.to_string(), "is an ed25519 key, not p256 as requested");
        assert!(key.expect_type(KeyType::Ed25519).is_ok());
        assert_eq!("P-256".parse::<KeyType>().unwrap(), KeyType::P256);
        assert!("rsa".parse::<KeyType>().is_err());
    }

    #[test]
    fn key_sources_parse_env_and_paths() {
        assert_eq!(
            "env:CI_KEY".parse::<KeySource>().unwrap(),
            KeySource::Env("CI_KEY".into())
        );
        assert_eq!(
            "keys/ci.key".parse::<KeySource>().unwrap(),
            KeySource::File("keys/ci.key".into())
        );
        let err = load_public_key(&KeySource::Env("CUSTODY_TEST_SURELY_UNSET_VARIABLE".into()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "key env:CUSTODY_TEST_SURELY_UNSET_VARIABLE is missing: the environment variable is unset or empty"
        );
    }

    #[test]
    fn hints_match_custody_sigstore_and_securesystemslib_ids() {
        let key = SigningKey::generate(KeyType::Ed25519).unwrap();
        let public = key.public_key();
        let id = public.key_id();
        assert!(public.matches_hint(&id.to_string()));
        assert!(public.matches_hint(&format!("sha256:{id}")));
        assert!(
            public.matches_hint(&base64::engine::general_purpose::STANDARD.encode(id.as_bytes()))
        );
        assert!(public.matches_hint(&public.securesystemslib_keyid()));
        assert!(!public.matches_hint(""));
        assert!(!public.matches_hint("test key 123"));
    }
    /// An encrypted key whose parameters would take minutes (PBKDF2) or gigabytes (scrypt) is
    /// refused from its parameters, before any key derivation.
    #[test]
    fn costly_encryption_parameters_are_refused_before_any_work() {
        use pkcs8::EncryptedPrivateKeyInfo;
        use pkcs8::der::Encode as _;
        let hostile = |params: pbes2::Parameters| {
            let data = [0u8; 48];
            let info = EncryptedPrivateKeyInfo {
                encryption_algorithm: params.into(),
                encrypted_data: OctetStringRef::new(&data).unwrap(),
            };
            let der = info.to_der().unwrap();
            pkcs8::der::pem::encode_string("ENCRYPTED PRIVATE KEY", LineEnding::LF, &der).unwrap()
        };
        let start = std::time::Instant::now();
        let pbkdf2 = hostile(
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(99_000_000, &[1; 16], [2; 16])
                .unwrap(),
        );
        let err = SigningKey::from_pem(&pbkdf2, Some(b"pw")).unwrap_err();
        assert!(matches!(err, KeyError::KdfTooCostly(_)), "{err}");
        let scrypt = hostile(
            pbes2::Parameters::generate_scrypt_aes256cbc(
                pkcs8::pkcs5::scrypt::Params::new(30, 8, 1).unwrap(),
                &[1; 16],
                [2; 16],
            )
            .unwrap(),
        );
        let err = SigningKey::from_pem(&scrypt, Some(b"pw")).unwrap_err();
        assert!(matches!(err, KeyError::KdfTooCostly(_)), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // Within bounds, a garbage ciphertext is a decryption failure, not a panic.
        let cheap = hostile(
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(1000, &[1; 16], [2; 16]).unwrap(),
        );
        assert!(matches!(
            SigningKey::from_pem(&cheap, Some(b"pw")),
            Err(KeyError::Decrypt)
        ));
    }
}
