//! The names custody gives to things, shared by every stage of the data flow.
//!
//! An image, a layer, a key and a role are each named in exactly one way across the
//! workspace so that the builder, the ledger and the verifier can never disagree about what
//! they are talking about:
//!
//! - a blob (layer, config, manifest, SBOM) by its [`Digest`] (`sha256:<64 hex>`);
//! - a layer by its [`DiffId`] (digest of the uncompressed tar) and placed in an image by its
//!   [`ChainId`], which binds it to every layer beneath it (OCI image-spec);
//! - a key by its [`KeyId`], the SHA-256 of its SubjectPublicKeyInfo DER;
//! - a signer's job by its [`Role`].
//!
//! Every type parses strictly at the border (`FromStr`, `Deserialize`) and cannot hold an
//! ill-formed value afterwards. This crate does no I/O.
#![deny(missing_docs)]

mod digest;
mod key_id;
mod layer;
pub mod media_types;
pub mod predicate_types;
mod role;
pub mod sbom_properties;

pub use digest::{Algorithm, Digest, DigestError, Sha256Hasher};
pub use key_id::KeyId;
pub use layer::{ChainId, DiffId, chain_ids};
pub use role::{Role, RoleError};
