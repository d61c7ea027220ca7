//! Verifying many DSSE envelopes at once: one ed25519 batch equation instead of one
//! verification per signature.
//!
//! A deploy gate verifies every attestation of an image (one per layer, the provenance, the
//! scan, the reviews) on each decision; ed25519 batch verification checks n signatures with one
//! multiscalar multiplication and needs no point compression, about half the work of n single
//! verifications.
//!
//! # Acceptance, compared with [`Envelope::verify`]
//!
//! [`Envelope::verify`] uses ed25519-dalek's `verify_strict`: canonical `s`, canonical `R`,
//! neither `R` nor the key of small order, and the cofactorless equation `[s]B = R + [k]A`.
//! Before a signature joins the batch this module applies the same encoding checks (`s` below
//! the group order, `R` a canonical encoding of a curve point, `R` and the key not of small
//! order), and ed25519-dalek 3's batch equation is cofactorless too (it sums the per-signature
//! equations with random 128-bit weights and checks the sum is the identity, without
//! multiplying by the cofactor). What remains different: a signature whose `R` (or a key
//! whose point) is the sum of a prime-order point and a non-trivial torsion point fails
//! `verify_strict` always, but passes the batch when every weight happens to annihilate the
//! torsion part (the weights are derived from the batch's contents, so whoever can make such
//! a signature can search for one that passes). Making such a signature needs the signing key:
//! the challenge `k` hashes `R`, so `s` must be recomputed. It is therefore never a forgery,
//! only an unusual encoding chosen by a key the policy already trusts, and custody accepts it
//! as it accepts any other signature that key chose to make. Where strict agreement with
//! other verifiers matters more than speed, call [`Envelope::verify`].
//!
//! When the batch equation fails, every envelope in the batch is verified alone with
//! [`Envelope::verify`], so the result says which envelope is bad and why, exactly as it
//! would without batching.

use custody_types::KeyId;

use crate::dsse::{Envelope, VerifiedEnvelope, VerifyError};
use crate::keys::PublicKey;

/// One envelope of a batch with the keys that may have signed it: the arguments of
/// [`Envelope::verify`].
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The envelope.
    pub envelope: &'a Envelope,
    /// The keys worth trying.
    pub keys: &'a [PublicKey],
    /// How many distinct keys must have signed.
    pub threshold: usize,
}

/// Verifies every item, as [`Envelope::verify`] would, with one ed25519 batch equation for
/// all signatures that can join it (see the module documentation for the one acceptance
/// difference). Results are in the order of `items`.
///
/// An item joins the batch when every one of its distinct keys is an ed25519 key named by a
/// signature's keyid hint and there are at least `threshold` of them; its signers are then
/// exactly the keys [`Envelope::verify`] would report. Other items (P-256 keys, missing or
/// unmatched hints, unreachable thresholds) are verified alone.
pub fn verify_batch(items: &[BatchItem<'_>]) -> Vec<Result<VerifiedEnvelope, VerifyError>> {
    let plans: Vec<Option<Vec<(&PublicKey, usize)>>> = items.iter().map(plan).collect();
    let mut paes: Vec<Vec<u8>> = Vec::new();
    let mut message_of: Vec<usize> = Vec::new();
    let mut signatures: Vec<ed25519_dalek::Signature> = Vec::new();
    let mut keys: Vec<ed25519_dalek::VerifyingKey> = Vec::new();
    for (item, plan) in items.iter().zip(&plans) {
        let Some(pairs) = plan else { continue };
        paes.push(item.envelope.pae());
        for &(key, sig) in pairs {
            // `plan` only pairs ed25519 keys with 64-byte signatures.
            let (Some(vk), Ok(bytes)) = (
                key.ed25519(),
                <[u8; 64]>::try_from(item.envelope.signatures()[sig].sig()),
            ) else {
                continue;
            };
            message_of.push(paes.len() - 1);
            signatures.push(ed25519_dalek::Signature::from_bytes(&bytes));
            keys.push(*vk);
        }
    }
    let messages: Vec<&[u8]> = message_of.iter().map(|&m| paes[m].as_slice()).collect();
    let batch_holds = !signatures.is_empty()
        && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok();
    items
        .iter()
        .zip(plans)
        .map(|(item, plan)| match plan {
            Some(pairs) if batch_holds => {
                let signers: Vec<KeyId> = pairs.iter().map(|(k, _)| k.key_id()).collect();
                Ok(item.envelope.verified_by(signers))
            }
            _ => item.envelope.verify(item.keys, item.threshold),
        })
        .collect()
}

/// For an item that can join the batch, each distinct key with the index of the signature
/// its hint names; `None` sends the item to [`Envelope::verify`].
fn plan<'a>(item: &BatchItem<'a>) -> Option<Vec<(&'a PublicKey, usize)>> {
    if item.threshold == 0 {
        return None;
    }
    let mut pairs: Vec<(&'a PublicKey, usize)> = Vec::with_capacity(item.keys.len());
    for key in item.keys {
        if pairs.iter().any(|(k, _)| k.key_id() == key.key_id()) {
            continue;
        }
        let vk = key.ed25519()?;
        if vk.is_weak() {
            return None;
        }
        let sig = item
            .envelope
            .signatures()
            .iter()
            .position(|s| key.matches_hint(s.keyid()))?;
        if !joins_batch(item.envelope.signatures()[sig].sig()) {
            return None;
        }
        pairs.push((key, sig));
    }
    (pairs.len() >= item.threshold).then_some(pairs)
}

/// The encoding checks `verify_strict` makes on a signature, which the batch equation does
/// not: 64 bytes, `s` canonical (below the group order), `R` a canonical encoding of a curve
/// point that is not of small order.
fn joins_batch(sig: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let mut r = [0u8; 32];
    r.copy_from_slice(&bytes[..32]);
    let mut s = [0u8; 32];
    s.copy_from_slice(&bytes[32..]);
    // Whether R is on the curve at all is left to the batch (it decompresses every R, and a
    // failure sends the whole batch to one-by-one verification, which refuses it).
    canonical_y(&r) && !small_order_encoding(&r) && s_is_canonical(&s)
}

/// The y coordinates (little-endian) of the eight points of order dividing 8: the identity
/// (y = 1), the point of order 2 (y = p - 1), the two of order 4 (y = 0), and the four of
/// order 8 (y = ±sqrt of a known constant). libsodium refuses the same list in
/// `crypto_sign_verify_detached`.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Whether a canonical point encoding is one of a small-order point, whatever its sign bit
/// (the decompressor accepts x = 0 with the sign bit set). What `verify_strict` learns by
/// decompressing R and testing `is_small_order`, without the square root.
fn small_order_encoding(point: &[u8; 32]) -> bool {
    SMALL_ORDER_Y
        .iter()
        .any(|y| point[..31] == y[..31] && point[31] & 0x7f == y[31])
}

/// Whether the y coordinate of a compressed Edwards point (little-endian, top bit the sign of
/// x) is below p = 2^255 - 19; the 19 values from p up decompress like their residues, so a
/// verifier that did not refuse them would accept several encodings of one `R`.
fn canonical_y(point: &[u8; 32]) -> bool {
    !(point[0] >= 0xed && point[1..31].iter().all(|&b| b == 0xff) && point[31] & 0x7f == 0x7f)
}

/// Whether a little-endian scalar is below the ed25519 group order
/// l = 2^252 + 27742317777372353535851937790883648493. ed25519-dalek checks this too when it
/// builds the batch; checking here keeps a malleated signature out of the batch so it is
/// refused by [`Envelope::verify`] with the same error as without batching.
fn s_is_canonical(s: &[u8; 32]) -> bool {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10,
    ];
    // Compare from the most significant byte.
    for i in (0..32).rev() {
        if s[i] != L[i] {
            return s[i] < L[i];
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::KeyIdHint;
    use crate::keys::SigningKey;

    fn key(_n: u8) -> SigningKey {
        SigningKey::generate(crate::keys::KeyType::Ed25519).unwrap()
    }

    fn envelope(k: &SigningKey, body: &str) -> Envelope {
        Envelope::sign(
            "application/vnd.in-toto+json",
            body.as_bytes().to_vec(),
            &[k],
            KeyIdHint::Securesystemslib,
        )
    }

    #[test]
    fn a_batch_agrees_with_one_by_one_verification() {
        let keys: Vec<SigningKey> = (1..=4).map(key).collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| k.public_key().clone()).collect();
        let envelopes: Vec<Envelope> = (0..12)
            .map(|i| envelope(&keys[i % 4], &format!("{{\"n\":{i}}}")))
            .collect();
        let items: Vec<BatchItem<'_>> = envelopes
            .iter()
            .enumerate()
            .map(|(i, e)| BatchItem {
                envelope: e,
                keys: std::slice::from_ref(&publics[i % 4]),
                threshold: 1,
            })
            .collect();
        let batched = verify_batch(&items);
        for (item, got) in items.iter().zip(batched) {
            let want = item.envelope.verify(item.keys, 1).unwrap();
            assert_eq!(got.unwrap(), want);
        }
    }

    #[test]
    fn one_bad_signature_fails_only_its_envelope() {
        let k = key(7);
        let public = [k.public_key().clone()];
        let good = envelope(&k, "{\"a\":1}");
        let other = envelope(&k, "{\"a\":2}");
        // The signature of one payload on another: well formed, wrong.
        let forged = Envelope::from_json(
            &String::from_utf8(good.to_json())
                .unwrap()
                .replace(
                    &base64_of(good.signatures()[0].sig()),
                    &base64_of(other.signatures()[0].sig()),
                )
                .into_bytes(),
        )
        .unwrap();
        let items = [
            BatchItem {
                envelope: &good,
                keys: &public,
                threshold: 1,
            },
            BatchItem {
                envelope: &forged,
                keys: &public,
                threshold: 1,
            },
            BatchItem {
                envelope: &other,
                keys: &public,
                threshold: 1,
            },
        ];
        let got = verify_batch(&items);
        assert!(got[0].is_ok());
        assert!(matches!(
            got[1],
            Err(VerifyError::NotEnoughSignatures { verified: 0, .. })
        ));
        assert!(got[2].is_ok());
    }

    #[test]
    fn items_that_cannot_join_are_verified_alone() {
        let (a, b) = (key(1), key(2));
        let p256 = SigningKey::generate(crate::keys::KeyType::P256).unwrap();
        let no_hint = Envelope::sign("t", b"x".to_vec(), &[&a], KeyIdHint::Empty);
        let two = Envelope::sign("t", b"y".to_vec(), &[&a, &b], KeyIdHint::Custody);
        let ecdsa = Envelope::sign("t", b"z".to_vec(), &[&p256], KeyIdHint::Custody);
        let pa = [a.public_key().clone()];
        let pab = [a.public_key().clone(), b.public_key().clone()];
        let pp = [p256.public_key().clone()];
        let items = [
            BatchItem {
                envelope: &no_hint,
                keys: &pa,
                threshold: 1,
            },
            BatchItem {
                envelope: &two,
                keys: &pab,
                threshold: 2,
            },
            BatchItem {
                envelope: &ecdsa,
                keys: &pp,
                threshold: 1,
            },
            BatchItem {
                envelope: &two,
                keys: &pa,
                threshold: 2,
            },
            BatchItem {
                envelope: &two,
                keys: &pa,
                threshold: 0,
            },
        ];
        let got = verify_batch(&items);
        for (item, got) in items.iter().zip(&got) {
            let want = item.envelope.verify(item.keys, item.threshold);
            assert_eq!(
                format!("{got:?}"),
                format!("{want:?}"),
                "item with threshold {}",
                item.threshold
            );
        }
        assert_eq!(got[1].as_ref().unwrap().signers().len(), 2);
        assert!(matches!(
            got[3],
            Err(VerifyError::ThresholdUnreachable { .. })
        ));
    }

    #[test]
    fn encodings_verify_strict_refuses_stay_out_of_the_batch() {
        let k = key(3);
        let e = envelope(&k, "{}");
        let sig = e.signatures()[0].sig().to_vec();
        assert!(joins_batch(&sig));
        // s + l: the classic malleation, same point equation, non-canonical scalar.
        let mut malleated = sig.clone();
        let mut carry = 0u16;
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        for i in 0..32 {
            let v = u16::from(malleated[32 + i]) + u16::from(l[i]) + carry;
            malleated[32 + i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert!(!joins_batch(&malleated));
        // R the identity (small order), and R = p + 1 (a non-canonical encoding of it).
        let mut identity = sig.clone();
        identity[..32].copy_from_slice(&[0; 32]);
        identity[0] = 1;
        assert!(!joins_batch(&identity));
        let mut non_canonical = sig.clone();
        non_canonical[..32].copy_from_slice(&[0xff; 32]);
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(!canonical_y(non_canonical[..32].try_into().unwrap()));
        assert!(!joins_batch(&non_canonical));
        assert!(!joins_batch(&sig[..63]));
        // Every blocked encoding is of a small-order point (or of none), with either sign.
        for y in SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut r = y;
                r[31] |= sign;
                assert!(small_order_encoding(&r));
                assert!(
                    ed25519_dalek::VerifyingKey::from_bytes(&r).is_ok_and(|p| p.is_weak())
                        || (sign == 0x80 && ed25519_dalek::VerifyingKey::from_bytes(&r).is_err())
                );
                let mut blocked = sig.clone();
                blocked[..32].copy_from_slice(&r);
                assert!(!joins_batch(&blocked));
            }
        }
        // And the R of real signatures is not.
        for i in 0..20 {
            let e = envelope(&k, &format!("{{\"i\":{i}}}"));
            assert!(joins_batch(e.signatures()[0].sig()));
        }
        assert!(s_is_canonical(&[0; 32]));
        let mut below = l;
        below[0] -= 1;
        assert!(s_is_canonical(&below));
        assert!(!s_is_canonical(&l));
    }

    fn base64_of(b: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(b)
    }
}
