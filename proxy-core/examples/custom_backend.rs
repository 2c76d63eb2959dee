//! A complete custom backend: instead of programming a kernel, it prints which endpoints each
//! service port would use, on every sync.
//!
//! ```text
//! cargo run -p proxy-core --example custom_backend -- proxy-core/examples/cluster.yaml [NODE]
//! ```
//!
//! The file (multi-document YAML, JSON, or a `kubectl get -o yaml` List of Services,
//! EndpointSlices and Nodes) is read once and handed to the sync runner as the initial list; the
//! runner converts and tracks it and calls the backend, which prints the table.

mod table_backend;

use std::process::ExitCode;

use proxy_core::manifest;
use proxy_core::model::NodeInfo;
use proxy_core::runner::{RunnerConfig, SourceEvent, SyncRunner};
use proxy_core::tracker::ChangeTracker;
use table_backend::TableBackend;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: custom_backend FILE [NODE-NAME]");
        return ExitCode::from(2);
    };
    let node = args.next().unwrap_or_else(|| "node-a".to_string());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("cannot read {path}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (objects, errors) = manifest::parse(&text);
    for err in &errors {
        eprintln!("warning: {path}: {err}");
    }

    let tracker = ChangeTracker::new(NodeInfo::new(node));
    let runner = SyncRunner::new(TableBackend, tracker, RunnerConfig::default());
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    // The whole file is the initial list; closing the channel makes the runner sync what it has
    // and return.
    if tx.send(SourceEvent::Reset(objects)).await.is_err() {
        return ExitCode::FAILURE;
    }
    drop(tx);
    runner.run(rx, std::future::pending()).await;
    ExitCode::SUCCESS
}
