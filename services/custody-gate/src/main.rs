//! The custody deploy gate: Kubernetes admission webhook and /v1/verify

fn main() {}
