//! Shared helpers: sigstore-merkle's crypto provider, and RFC 9162's recursive definitions as
//! an independent reference builder.

use std::sync::Once;

use custody_log::{Hash, node_hash};
use sha2::Digest as _;
use sigstore_crypto::provider::{CryptoProvider, HashContext, install_default_provider};
use sigstore_crypto::{Error as SigstoreError, SigningScheme};
use sigstore_types::{HashAlgorithm, Sha256Hash};

/// sigstore-merkle (built without aws-lc-rs) hashes through a process-wide provider; this
/// one does SHA-2 with RustCrypto and nothing else.
#[derive(Debug)]
struct Sha2Only;

enum Ctx {
    S256(sha2::Sha256),
    S384(sha2::Sha384),
    S512(sha2::Sha512),
}

impl HashContext for Ctx {
    fn update(&mut self, data: &[u8]) {
        match self {
            Ctx::S256(h) => h.update(data),
            Ctx::S384(h) => h.update(data),
            Ctx::S512(h) => h.update(data),
        }
    }

    fn finalize(self: Box<Self>) -> Vec<u8> {
        match *self {
            Ctx::S256(h) => h.finalize().to_vec(),
            Ctx::S384(h) => h.finalize().to_vec(),
            Ctx::S512(h) => h.finalize().to_vec(),
        }
    }
}

impl CryptoProvider for Sha2Only {
    fn hash(&self, algorithm: HashAlgorithm) -> sigstore_crypto::Result<Box<dyn HashContext>> {
        Ok(Box::new(match algorithm {
            HashAlgorithm::Sha2256 => Ctx::S256(sha2::Sha256::new()),
            HashAlgorithm::Sha2384 => Ctx::S384(sha2::Sha384::new()),
            HashAlgorithm::Sha2512 => Ctx::S512(sha2::Sha512::new()),
            other => {
                return Err(SigstoreError::UnsupportedAlgorithm(format!("{other:?}")));
            }
        }))
    }

    fn verify_raw(
        &self,
        _: SigningScheme,
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> sigstore_crypto::Result<()> {
        Err(SigstoreError::UnsupportedAlgorithm(
            "hash-only test provider".into(),
        ))
    }

    fn verify_prehashed(
        &self,
        _: SigningScheme,
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> sigstore_crypto::Result<()> {
        Err(SigstoreError::UnsupportedAlgorithm(
            "hash-only test provider".into(),
        ))
    }
}

static PROVIDER: Sha2Only = Sha2Only;
static INSTALL: Once = Once::new();

fn sig(h: &Hash) -> Sha256Hash {
    Sha256Hash::new(h.to_bytes())
}

/// sigstore-merkle's inclusion verdict.
pub(crate) fn sigstore_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> bool {
    INSTALL.call_once(|| {
        let _ = install_default_provider(&PROVIDER);
    });
    let path: Vec<Sha256Hash> = path.iter().map(sig).collect();
    sigstore_merkle::verify_inclusion_proof(&sig(leaf), index, size, &path, &sig(root)).is_ok()
}

/// sigstore-merkle's consistency verdict.
pub(crate) fn sigstore_consistency(
    old: u64,
    new: u64,
    path: &[Hash],
    r1: &Hash,
    r2: &Hash,
) -> bool {
    INSTALL.call_once(|| {
        let _ = install_default_provider(&PROVIDER);
    });
    let path: Vec<Sha256Hash> = path.iter().map(sig).collect();
    sigstore_merkle::verify_consistency_proof(old, new, &path, &sig(r1), &sig(r2)).is_ok()
}

/// Largest power of two strictly below `n` (`n > 1`).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 2.1.1 `MTH` over leaf hashes.
pub(crate) fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => custody_log::empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// RFC 9162 2.1.3.1 `PATH(m, D[n])`.
pub(crate) fn rfc_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len());
    if m < k {
        let mut p = rfc_path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = rfc_path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 9162 2.1.4.1 `PROOF(m, D[n])`.
pub(crate) fn rfc_proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        if m == d.len() {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = split(d.len());
        if m <= k {
            let mut p = sub(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = sub(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }
    sub(m, d, true)
}

/// Deterministic leaf data for tests.
pub(crate) fn leaf_data(i: u64) -> Vec<u8> {
    format!("custody test leaf {i}").into_bytes()
}
