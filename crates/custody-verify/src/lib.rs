//! Policy plus statements plus proofs to a decision with one verdict per rule
#![deny(missing_docs)]
