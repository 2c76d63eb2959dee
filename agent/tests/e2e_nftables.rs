//! The backend-agnostic end-to-end traffic suite (testkit) against `svcproxy sync --backend nftables`.

testkit::e2e_suite!(testkit::e2e::SvcproxyCli::new(
    env!("CARGO_BIN_EXE_svcproxy"),
    "nftables"
));
