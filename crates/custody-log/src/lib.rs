//! Merkle tree math, inclusion and consistency proofs, C2SP signed checkpoints; storage behind a trait
#![deny(missing_docs)]
