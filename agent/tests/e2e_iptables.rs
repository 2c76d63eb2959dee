//! The backend-agnostic end-to-end traffic suite (testkit) against `svcproxy sync --backend
//! iptables`, unchanged, three times:
//!
//! * `auto`: the suite's own driver as is; in the sandbox's fresh node namespace the variant is
//!   the one `iptables --version` reports;
//! * `legacy` and `nft`: the same driver (so still `--iptables-variant auto`), on a node where
//!   kubelet's `KUBE-IPTABLES-HINT` chain says which variant the node uses, as on a real node;
//!   each sync checks that our rules landed in that variant.

use testkit::Netns;
use testkit::e2e::{Proxy, SvcproxyCli};

/// The suite's driver on a node whose kubelet hint names `variant` (`legacy` or `nft`).
struct Hinted {
    variant: &'static str,
    cli: SvcproxyCli,
}

impl Hinted {
    fn new(variant: &'static str) -> Self {
        Hinted {
            variant,
            cli: SvcproxyCli::new(env!("CARGO_BIN_EXE_svcproxy"), "iptables"),
        }
    }
}

impl Proxy for Hinted {
    fn sync(&mut self, node: &Netns, manifest: &str) -> Result<(), String> {
        let v = self.variant;
        node.sh(&format!(
            "iptables-{v} -w -t mangle -S KUBE-IPTABLES-HINT >/dev/null 2>&1 || iptables-{v} -w -t mangle -N KUBE-IPTABLES-HINT"
        ))
        .map_err(|e| format!("the kubelet hint: {e}"))?;
        self.cli.sync(node, manifest)?;
        let saved = node
            .sh(&format!("iptables-{v}-save -t nat"))
            .map_err(|e| e.to_string())?;
        if saved.contains(":SVCP-SERVICES") {
            Ok(())
        } else {
            Err(format!("svcproxy did not program iptables-{v}:\n{saved}"))
        }
    }
}

mod auto {
    testkit::e2e_suite!(testkit::e2e::SvcproxyCli::new(
        env!("CARGO_BIN_EXE_svcproxy"),
        "iptables"
    ));
}

mod legacy {
    testkit::e2e_suite!(super::Hinted::new("legacy"));
}

mod nft {
    testkit::e2e_suite!(super::Hinted::new("nft"));
}
