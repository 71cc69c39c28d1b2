//! Signature verification throughput: see docs/performance.md.
fn main() {}
