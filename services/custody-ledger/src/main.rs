//! The custody ledger: tamper-evident provenance log over SQLite or PostgreSQL

fn main() {}
