//! Criterion benchmarks of svcproxy (sync cost at scale) live in `benches/benches/`.
