//! Content digests in the OCI form `algorithm:hex`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};

/// A digest algorithm custody accepts.
///
/// Only the two the OCI image-spec registers are accepted; anything else is refused at the
/// border rather than carried along unchecked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the algorithm of every digest custody writes.
    Sha256,
    /// SHA-512, accepted when reading images that use it.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Number of hex characters of an encoded digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// There is no `algorithm:` prefix.
    #[error("digest {0:?} has no algorithm prefix (expected sha256:<hex>)")]
    MissingAlgorithm(String),
    /// The algorithm is neither sha256 nor sha512.
    #[error("digest {0:?} uses an unsupported algorithm (expected sha256 or sha512)")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length or is not lowercase hex.
    #[error("digest {0:?} is not {1} lowercase hex characters after the algorithm")]
    BadEncoding(String, usize),
}

/// A content digest such as `sha256:9f86d0…`: an algorithm and its lowercase hex encoding.
///
/// Digests compare as strings do, so they can key maps and be sorted deterministically.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest::from_sha256_bytes(Sha256::digest(bytes).into())
    }

    /// The SHA-512 digest of `bytes`.
    pub fn sha512_of(bytes: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha512,
            hex: hex::encode(Sha512::digest(bytes)),
        }
    }

    /// A SHA-256 digest from its 32 raw bytes.
    pub fn from_sha256_bytes(bytes: [u8; 32]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(bytes),
        }
    }

    /// A digest from an algorithm and a hex string, checked.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        let valid = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(DigestError::BadEncoding(
                format!("{}:{hex}", algorithm.as_str()),
                algorithm.hex_len(),
            ));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding, without the algorithm prefix (a blob's file name).
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The raw digest bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // The encoding was checked on construction, so decoding cannot fail.
        hex::decode(&self.hex).unwrap_or_default()
    }

    /// The raw bytes of a SHA-256 digest, or `None` for another algorithm.
    pub fn sha256_bytes(&self) -> Option<[u8; 32]> {
        if self.algorithm != Algorithm::Sha256 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.hex, &mut out).ok()?;
        Some(out)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::MissingAlgorithm(s.to_owned()));
        };
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::UnsupportedAlgorithm(s.to_owned())),
        };
        Digest::new(algorithm, hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental SHA-256 that yields a [`Digest`]; also an [`std::io::Write`] sink so a
/// stream can be hashed while it is read.
#[derive(Clone, Default)]
pub struct Sha256Hasher {
    inner: Sha256,
    len: u64,
}

impl Sha256Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Number of bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest::from_sha256_bytes(self.inner.finalize().into())
    }
}

impl std::io::Write for Sha256Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_matches_the_well_known_value() {
        assert_eq!(Digest::sha256_of(b"").to_string(), EMPTY);
        let mut h = Sha256Hasher::new();
        h.update(b"");
        assert_eq!(h.finish().to_string(), EMPTY);
    }

    #[test]
    fn parses_and_round_trips_through_serde() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{EMPTY}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert_eq!(d.sha256_bytes().unwrap().len(), 32);
    }

    #[test]
    fn refuses_malformed_digests() {
        for bad in [
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "sha256:../../etc/passwd",
            "sha256:zzb0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad:?} must be refused");
        }
        assert!(serde_json::from_str::<Digest>("\"sha256:00\"").is_err());
    }
}
