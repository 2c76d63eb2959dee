//! Serves a file of Services, EndpointSlices and Nodes from testkit's fake API server on
//! loopback, for trying `svcproxy run --source kube` or the `custom_agent` example without a
//! cluster. Prints the URL on its first line, then serves until killed.
//!
//! ```text
//! cargo run -p svcproxy --example fake_apiserver -- proxy-core/examples/cluster.yaml
//! ```

use proxy_core::{KubeObject, manifest};
use testkit::fake_api::FakeApi;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: fake_apiserver FILE"))?;
    let text = std::fs::read_to_string(&path)?;
    let (objects, errors) = manifest::parse(&text);
    for error in errors {
        eprintln!("warning: {path}: {error}");
    }
    let api = FakeApi::start()?;
    for object in objects {
        match object {
            KubeObject::Service(s) => api.apply(s.as_ref())?,
            KubeObject::EndpointSlice(s) => api.apply(s.as_ref())?,
            KubeObject::Node(n) => api.apply(n.as_ref())?,
        };
    }
    println!("{}", api.url());
    loop {
        std::thread::park();
    }
}
