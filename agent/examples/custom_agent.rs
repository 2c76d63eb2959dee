//! A custom agent: svcproxy's API source, change tracker and sync runner around a backend of
//! one's own (the table backend of proxy-core's `custom_backend` example, which prints what
//! each service port would do).
//!
//! ```text
//! cargo run -p svcproxy --example custom_agent -- [--master URL] [--node NAME] [--once]
//! ```
//!
//! Without `--master` it runs in-cluster; `--once` stops after the first successful sync.

#[path = "../../proxy-core/examples/table_backend/mod.rs"]
mod table_backend;

use svcproxy::agent::Agent;
use svcproxy::config::Source;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let master = flag("--master").cloned();
    let node = flag("--node")
        .cloned()
        .unwrap_or_else(|| "node-a".to_owned());
    let agent = Agent::new(
        Source::Kube {
            kubeconfig: None,
            master,
        },
        node,
    );
    let mut status = agent.status();
    let once = args.iter().any(|a| a == "--once");
    let shutdown = async move {
        if once {
            let _ = status.wait_for(|s| s.last_success.is_some()).await;
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    agent.run(table_backend::TableBackend, shutdown).await?;
    Ok(())
}
