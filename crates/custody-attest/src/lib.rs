//! Keys, in-toto Statements v1 and DSSE envelopes: layer, provenance, review, scan attestations
#![deny(missing_docs)]
