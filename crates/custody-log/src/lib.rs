//! The ledger's log without storage or network: RFC 6962/9162 Merkle tree math, inclusion and
//! consistency proofs built from stored nodes, C2SP signed checkpoints, the entry proof file a
//! client keeps beside each envelope, and the rollback/fork rule a verifier applies to
//! checkpoints over time.
//!
//! # Why it is shaped this way
//!
//! The ledger service keeps the tree in a database and must answer a proof at any tree size in
//! O(log n) reads, never by rehashing leaves; the verifier must check proofs offline. Both use
//! this crate, which therefore does no I/O. Proof building is split into *plan, fetch, build*:
//!
//! 1. [`inclusion_proof_node_ids`] (or [`consistency_proof_node_ids`], [`root_node_ids`],
//!    [`Frontier::node_ids`]) names the stored nodes needed — about `log2(n)` of them;
//! 2. the caller fetches them in one query into a `HashMap<NodeId, Hash>`;
//! 3. [`build_inclusion_proof`] (or [`build_consistency_proof`], [`build_root`],
//!    [`Frontier::from_nodes`]) assembles the answer.
//!
//! [`NodeReader`] / [`AsyncNodeReader`] wrap the same three steps for stores that implement a
//! one-method trait ([`prove_inclusion`], [`prove_inclusion_async`], ...), and [`MemoryStore`]
//! is the in-memory store for tests and offline tools.
//!
//! # Stored nodes
//!
//! Only perfect subtrees are stored, each named by [`NodeId`] `(level, index)`: the `2^level`
//! leaves from `index * 2^level`. Level 0 holds the leaf hashes. A perfect node is final once
//! written, so a table `nodes(level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY(level, idx))`
//! holds the whole log (`2n - popcount(n)` rows for `n` leaves), and every historic tree size
//! is served from it: a non-perfect node on the right edge of an older tree is recomputed from
//! at most `log2(n)` perfect ones. Appending goes through a [`Frontier`] (the right edge: one
//! perfect node per set bit of the size), which returns exactly the nodes to insert and the
//! new root; replaying leaves through a fresh frontier and [`compare_nodes`] is how
//! `custody-ledger verify` finds a tampered node.
//!
//! # ct-merkle, sigstore-merkle and this crate
//!
//! - **ct-merkle** selects the nodes of every proof this crate builds:
//!   `ct_merkle::indices_for_inclusion_proof` and `indices_for_consistency_proof` name them in
//!   the RFC 9420 array-tree layout, and this crate maps each to a stored perfect node or a
//!   right-edge fold. ct-merkle is made for exactly this ("when the tree is stored on disk or in
//!   tiles"); its own `MemoryBackedTree` stores every node of the current size only, so it
//!   cannot serve historic sizes from a database, and its verifier takes leaf values rather than
//!   leaf hashes, so clients cannot use it on a proof file. The tests build the same proofs with
//!   `MemoryBackedTree` for every index and size pair up to 300 leaves (and random larger ones)
//!   and require byte equality.
//! - **Verification** ([`verify_inclusion`], [`verify_consistency`]) is the algorithm of RFC
//!   9162 sections 2.1.3.2 and 2.1.4.2 written out here, independent of the builder. The tests
//!   check every generated proof with it, with **sigstore-merkle** (a port of the Go verifier
//!   used by sigstore-go) and with ct-merkle's verifier; all three must agree, and the
//!   transparency-dev vectors must pass. sigstore-merkle is not used at run time because,
//!   without aws-lc-rs, it needs a process-wide crypto provider installed, which a library must
//!   not do behind its caller's back.
//!
//! # Checkpoints and keys
//!
//! A checkpoint is a C2SP tlog-checkpoint body ([`Checkpoint`]) in a C2SP signed note signed
//! with the log's Ed25519 key ([`SignedCheckpoint`]). Keys use golang.org/x/mod/sumdb/note's
//! formats — `name+keyid+base64(0x01||pubkey)` ([`VerifierKey`]) and
//! `PRIVATE+KEY+name+keyid+base64(0x01||seed)` ([`SignerKey`]) — so stock tools read them. The
//! key name is the log origin. Only [`SignedCheckpoint::verify`] produces a
//! [`VerifiedCheckpoint`], and [`TrustedCheckpoint::advance`] and [`EntryProof::verify`] work
//! on verified checkpoints only.
//!
//! ```
//! use custody_log::{
//!     Checkpoint, EntryProof, KeyName, MemoryStore, SignedCheckpoint, SignerKey, leaf_hash,
//! };
//!
//! let key = SignerKey::generate(KeyName::new("custody.example/log")?)?;
//! let mut log = MemoryStore::new();
//! let entries: Vec<&[u8]> = vec![b"first envelope", b"second envelope"];
//! let leaves: Vec<_> = entries.iter().map(|e| leaf_hash(e)).collect();
//! let root = log.append(&leaves)?;
//! let checkpoint = Checkpoint::new("custody.example/log", log.size(), root)?;
//! let signed = SignedCheckpoint::sign(&checkpoint, &key)?;
//!
//! let proof = log.inclusion_proof(1, log.size())?;
//! let file = EntryProof::new(1, leaves[1], proof.path, &signed, Some(&key.verifier()))?;
//! let read_back = EntryProof::from_json(file.to_json().as_bytes())?;
//! let entry = read_back.verify(Some(entries[1]), &key.verifier())?;
//! assert_eq!(entry.checkpoint.size(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod checkpoint;
mod entry_proof;
mod frontier;
mod hash;
mod node;
mod note;
mod proof;
mod store;
mod trust;

pub use checkpoint::{
    Checkpoint, CheckpointError, CheckpointText, SignedCheckpoint, VerifiedCheckpoint,
};
pub use entry_proof::{
    ENTRY_PROOF_MEDIA_TYPE, EntryProof, EntryProofError, MAX_AUDIT_PATH, MAX_ENTRY_PROOF_BYTES,
    VerifiedEntry,
};
pub use frontier::{Appended, Frontier, NodeMismatch, compare_nodes};
pub use hash::{Hash, HashError, empty_root, leaf_hash, node_hash};
pub use node::{MAX_TREE_SIZE, Node, NodeId, NodeLookup};
pub use note::{
    KeyName, MAX_NOTE_BYTES, MAX_SIGNATURES, Note, NoteError, NoteSignature, SignerKey,
    VerifiedNote, VerifierKey, open_note, sign_note,
};
pub use proof::{
    ConsistencyProof, InclusionProof, ProofError, build_consistency_proof, build_inclusion_proof,
    build_root, consistency_proof_node_ids, inclusion_proof_node_ids, root_node_ids,
    verify_consistency, verify_consistency_bytes, verify_inclusion, verify_inclusion_bytes,
};
pub use store::{
    AsyncNodeReader, MemoryStore, NodeReader, StoreError, load_frontier, load_frontier_async,
    prove_consistency, prove_consistency_async, prove_inclusion, prove_inclusion_async, root_at,
    root_at_async,
};
pub use trust::{TrustError, TrustedCheckpoint};
