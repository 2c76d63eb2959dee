//! Helpers shared by the kernel tests.

use backend_iptables::Variant;
use backend_iptables::runner::CommandRunner;
use proxy_core::model::IpFamily;
use testkit::Netns;

/// Serializes the tests that hold the host-wide xtables lock with those that assert it was not
/// held (tests of one binary run in parallel).
pub static XTABLES_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A namespace for one test; `None` (skipped, with a message) when not root.
pub fn netns(test: &str) -> Option<Netns> {
    if !testkit::root_or_skip(test) {
        return None;
    }
    Some(Netns::new("bipt").expect("namespace"))
}

/// A runner of `variant`'s tools inside `ns`.
pub fn runner(ns: &Netns, variant: Variant) -> CommandRunner {
    CommandRunner::new(Some(ns.path()), variant).expect("runner in the namespace")
}

/// `{ip,ip6}tables-VARIANT-save` in `ns`, without the comment lines (which hold a date).
pub fn save(ns: &Netns, variant: Variant, family: IpFamily) -> String {
    let out = ns
        .exec(variant.save(family), std::iter::empty::<&str>())
        .expect("run the save tool");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `iptables-restore --noflush` of `text` in `ns` by the tool itself (a test's own setup).
pub fn load(ns: &Netns, variant: Variant, family: IpFamily, text: &str) {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            variant.restore(family),
            "--noflush",
            "-w",
            "5",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("run the restore tool");
    assert!(
        out.status.success(),
        "{} refused the test's setup: {}\n{text}",
        variant.restore(family),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A foreign chain and a foreign rule in a built-in chain, in `nat` and `filter`: what must
/// survive our cleanup.
pub const FOREIGN: &str = "*nat\n:FOREIGN-NAT - [0:0]\n-A FOREIGN-NAT -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.1:22\n-A PREROUTING -m comment --comment \"someone else\" -j FOREIGN-NAT\nCOMMIT\n*filter\n:FOREIGN-FILTER - [0:0]\n-A FOREIGN-FILTER -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j FOREIGN-FILTER\nCOMMIT\n";

/// The IPv6 version of [`FOREIGN`].
pub const FOREIGN6: &str = "*nat\n:FOREIGN-NAT - [0:0]\n-A FOREIGN-NAT -p tcp -m tcp --dport 2222 -j DNAT --to-destination [2001:db8::1]:22\n-A PREROUTING -m comment --comment \"someone else\" -j FOREIGN-NAT\nCOMMIT\n*filter\n:FOREIGN-FILTER - [0:0]\n-A FOREIGN-FILTER -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j FOREIGN-FILTER\nCOMMIT\n";

/// The foreign rules of a save output: every line mentioning `FOREIGN`.
pub fn foreign_lines(save: &str) -> Vec<String> {
    save.lines()
        .filter(|l| l.contains("FOREIGN") || l.contains("someone else"))
        .map(str::to_owned)
        .collect()
}
