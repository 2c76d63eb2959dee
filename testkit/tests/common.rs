//! Helpers shared by the tests.

use std::process::Command;

/// Skips the calling test (returns from it) unless running as root.
macro_rules! require_root {
    ($test:literal) => {
        if !testkit::root_or_skip($test) {
            return;
        }
    };
}
pub(crate) use require_root;

/// Whether `ip netns list` shows `name`.
pub fn listed(name: &str) -> bool {
    testkit::netns::list()
        .expect("ip netns list")
        .iter()
        .any(|n| n == name)
}

/// The names of the host's veth interfaces (read only: `ip -o link show type veth`).
pub fn host_veths() -> Vec<String> {
    let output = Command::new("ip")
        .args(["-o", "link", "show", "type", "veth"])
        .output()
        .expect("ip link");
    assert!(output.status.success(), "ip link show failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        // `7: name@if2: <...> ...`
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .collect()
}
