//! `sync`, `run` and `dump` plumbing, driven with `FakeDatapath` in place of a kernel backend,
//! on tokio's paused clock.

use std::path::Path;
use std::time::Duration;

use proxy_core::model::{Protocol, ServicePortName};
use proxy_core::runner::RunnerConfig;
use proxy_core::{Error, FakeDatapath, SyncMode};
use svcproxy::app;
use svcproxy::config::{
    Backend, Config, DatapathConfig, IptablesVariant, NodePortAddresses, ProxyConfig, RunConfig,
    Source,
};
use svcproxy::sync::{planned_state, run_once, run_until};
use tokio::sync::oneshot;
use tokio::time::sleep;

use crate::common::{TempFile, cluster};

/// A configuration reading `path`, for node-a (192.168.0.2).
fn config(path: &Path) -> ProxyConfig {
    ProxyConfig {
        source: Source::File(path.to_owned()),
        allow_empty_source: false,
        node_name: "node-a".to_owned(),
        node_ips: vec!["192.168.0.2".parse().expect("IP")],
        datapath: DatapathConfig {
            backend: Backend::Nftables,
            netns: None,
            cluster_cidrs: vec![],
            service_cidrs: vec![],
            nodeport_addresses: NodePortAddresses::Primary,
            detect_local: Default::default(),
            masquerade_all: false,
            iptables_variant: IptablesVariant::Auto,
            lock_wait: svcproxy::lock::DEFAULT_WAIT,
        },
    }
}

fn port(name: &str) -> ServicePortName {
    ServicePortName::new("default", name, "http", Protocol::Tcp)
}

#[tokio::test(start_paused = true)]
async fn sync_makes_one_full_sync_of_the_file() {
    let file = TempFile::with("sync.yaml", &cluster(true));
    let fake = FakeDatapath::new();
    let report = run_once(&config(file.path()), fake.clone())
        .await
        .expect("synced");
    assert_eq!(report.objects_added, 2);

    let syncs = fake.syncs();
    assert_eq!(syncs.len(), 1);
    assert_eq!(syncs[0].0, SyncMode::Full);
    let state = fake.last_state().expect("a sync");
    assert_eq!(
        state.services.keys().cloned().collect::<Vec<_>>(),
        [port("api"), port("web")]
    );
    let web: Vec<_> = state
        .endpoints_of(&port("web"))
        .iter()
        .map(|e| e.addr())
        .collect();
    assert_eq!(web, ["10.244.0.5:8080".parse().expect("addr")]);
    assert!(state.endpoints_of(&port("web"))[0].is_local);
    assert_eq!(state.node.name, "node-a");
    assert_eq!(
        state.node.ips,
        ["192.168.0.2".parse::<std::net::IpAddr>().expect("IP")]
    );
}

#[tokio::test(start_paused = true)]
async fn sync_fails_when_the_sync_fails_and_does_not_retry() {
    let file = TempFile::with("sync-fail.yaml", &cluster(false));
    let fake = FakeDatapath::new();
    fake.fail_next(Error::retryable("fake", "netlink busy"));
    let err = run_once(&config(file.path()), fake.clone())
        .await
        .expect_err("failed");
    // The datapath's error is kept as the source, not flattened into a message.
    assert_eq!(err.to_string(), "sync failed");
    let source = std::error::Error::source(&err).expect("the datapath's error");
    assert_eq!(source.to_string(), "backend fake: netlink busy");
    assert_eq!(fake.syncs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn sync_of_a_missing_file_fails_before_touching_the_datapath() {
    let file = TempFile::new("sync-missing.yaml");
    let fake = FakeDatapath::new();
    let err = run_once(&config(file.path()), fake.clone())
        .await
        .expect_err("missing");
    assert!(err.to_string().starts_with("cannot read "), "{err}");
    assert!(fake.calls().is_empty());
}

/// `run` on `fake`, spawned; send on the returned sender to stop it.
fn spawn_run(
    path: &Path,
    fake: &FakeDatapath,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<FakeDatapath>) {
    let config = RunConfig {
        proxy: config(path),
        runner: RunnerConfig::default(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let fake = fake.clone();
    let task = tokio::spawn(async move {
        run_until(&config, fake, async {
            let _ = stopped.await;
        })
        .await
        .expect("the file source opens")
    });
    (stop, task)
}

#[tokio::test(start_paused = true)]
async fn run_resyncs_after_the_file_changes_until_shutdown() {
    let file = TempFile::with("run.yaml", &cluster(false));
    let fake = FakeDatapath::new();
    let (stop, task) = spawn_run(file.path(), &fake);

    // The file is read once it has stayed the same for one poll (1 s).
    sleep(Duration::from_millis(1500)).await;
    let syncs = fake.syncs();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    assert_eq!(syncs[0].0, SyncMode::Full);
    assert!(
        fake.last_state()
            .expect("synced")
            .services
            .contains_key(&port("web"))
    );

    file.write(&cluster(true));
    sleep(Duration::from_secs(3)).await;
    let syncs = fake.syncs();
    assert_eq!(syncs.len(), 2, "{syncs:?}");
    assert_eq!(syncs[1].0, SyncMode::Partial);
    assert_eq!(
        syncs[1].1.changed.iter().cloned().collect::<Vec<_>>(),
        [port("api")]
    );
    let state = fake.last_state().expect("synced");
    assert_eq!(
        state.services.keys().cloned().collect::<Vec<_>>(),
        [port("api"), port("web")]
    );

    // Replaced by a rename without api: api is deleted.
    file.replace(&cluster(false));
    sleep(Duration::from_secs(3)).await;
    let syncs = fake.syncs();
    assert_eq!(syncs.len(), 3, "{syncs:?}");
    assert_eq!(
        syncs[2].1.deleted.iter().cloned().collect::<Vec<_>>(),
        [port("api")]
    );

    // Nothing changes: only the periodic full sync (30 s after the first one).
    sleep(Duration::from_secs(30)).await;
    let syncs = fake.syncs();
    assert_eq!(syncs.len(), 4, "{syncs:?}");
    assert_eq!(syncs[3].0, SyncMode::Full);

    stop.send(()).expect("running");
    let returned = tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("stops at once")
        .expect("no panic");
    assert_eq!(returned.syncs().len(), 4);
    // The rules stay: no cleanup on exit.
    assert!(!fake.calls().contains(&proxy_core::fake::Call::Cleanup));
}

#[tokio::test(start_paused = true)]
async fn run_waits_for_a_missing_file() {
    let file = TempFile::new("run-late.yaml");
    let fake = FakeDatapath::new();
    let (stop, task) = spawn_run(file.path(), &fake);

    sleep(Duration::from_secs(5)).await;
    assert!(fake.syncs().is_empty());

    file.write(&cluster(true));
    sleep(Duration::from_secs(2)).await;
    let syncs = fake.syncs();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    assert_eq!(syncs[0].0, SyncMode::Full);
    assert_eq!(fake.last_state().expect("synced").services.len(), 2);

    stop.send(()).expect("running");
    task.await.expect("no panic");
}

#[tokio::test]
async fn dump_plans_the_state_of_the_file() {
    let file = TempFile::with("dump.yaml", &cluster(true));
    let state = planned_state(&config(file.path())).await.expect("readable");
    assert_eq!(state.services.len(), 2);
    assert_eq!(state.endpoints_of(&port("api")).len(), 1);
}

/// Every subcommand that programs a node fails in one line, naming the namespace, when the
/// namespace it is pointed at does not exist (nothing is touched: the netlink socket is
/// opened inside the namespace, before anything else). `dump` touches nothing and succeeds.
#[tokio::test]
async fn subcommands_fail_in_one_line_without_their_namespace() {
    const MISSING: &str = "svcproxy-test-no-such-netns";
    let file = TempFile::with("backend.yaml", &cluster(false));
    let mut proxy = config(file.path());
    proxy.datapath.netns = Some(MISSING.to_owned());
    let configs = [
        Config::Sync(proxy.clone()),
        Config::Run(RunConfig {
            proxy: proxy.clone(),
            runner: RunnerConfig::default(),
        }),
        Config::Cleanup(DatapathConfig::for_cleanup(
            Backend::Nftables,
            Some(MISSING.to_owned()),
        )),
    ];
    for config in &configs {
        let err = app::execute(config).await.expect_err("no such namespace");
        let text = err.to_string();
        assert!(
            text.contains(&format!("/run/netns/{MISSING}")) && !text.contains('\n'),
            "{config:?}: {text}"
        );
    }
    app::execute(&Config::Dump(proxy))
        .await
        .expect("dump touches nothing");
}

/// `run`'s shutdown future completes on SIGTERM (the handlers are installed before the signal
/// is sent, so the test process is not killed).
#[tokio::test]
async fn shutdown_signal_completes_on_sigterm() {
    let shutdown = app::shutdown_signal().expect("handlers installed");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("the shutdown future completes on SIGTERM");
}
