//! The file source: read once, and watched (on tokio's paused clock: polls happen at exact
//! instants and nothing really sleeps; file I/O runs on the blocking pool, during which the
//! clock does not advance).

use std::time::Duration;

use proxy_core::KubeObject;
use proxy_core::runner::SourceEvent;
use svcproxy::source::FileSource;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::common::{TempFile, cluster, service_yaml};

/// The names of the Services among `objects`.
fn service_names(objects: &[KubeObject]) -> Vec<String> {
    objects
        .iter()
        .filter_map(|o| match o {
            KubeObject::Service(s) => s.metadata.name.clone(),
            _ => None,
        })
        .collect()
}

/// A watcher of `file`, spawned.
fn watch(file: &TempFile) -> (mpsc::Receiver<SourceEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(FileSource::new(file.path()).watch(tx));
    (rx, task)
}

/// The next event, which must come within a few polls and be a Reset; its objects.
async fn next_reset(rx: &mut mpsc::Receiver<SourceEvent>) -> Vec<KubeObject> {
    match tokio::time::timeout(Duration::from_secs(3), rx.recv()).await {
        Ok(Some(SourceEvent::Reset(objects))) => objects,
        other => panic!("expected a Reset, got {other:?}"),
    }
}

/// Asserts that no event comes for `secs` seconds.
async fn quiet(rx: &mut mpsc::Receiver<SourceEvent>, secs: u64) {
    if let Ok(event) = tokio::time::timeout(Duration::from_secs(secs), rx.recv()).await {
        panic!("expected no event, got {event:?}");
    }
}

#[tokio::test]
async fn read_returns_the_objects_and_skips_bad_ones() {
    let text = cluster(true) + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n";
    let file = TempFile::with("read.yaml", &text);
    let objects = FileSource::new(file.path()).read().await.expect("readable");
    assert_eq!(
        objects.len(),
        4,
        "2 Services and 2 EndpointSlices; the Deployment skipped"
    );
    assert_eq!(service_names(&objects), ["web", "api"]);
}

#[tokio::test]
async fn read_of_a_missing_file_is_a_one_line_error() {
    let file = TempFile::new("missing.yaml");
    let err = FileSource::new(file.path())
        .read()
        .await
        .expect_err("missing");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot read {}: ", file.path().display())),
        "{message}"
    );
    assert!(message.contains("No such file"), "{message}");
    assert!(!message.contains('\n'));
}

#[tokio::test]
async fn read_of_a_directory_is_an_error() {
    let err = FileSource::new(std::env::temp_dir())
        .read()
        .await
        .expect_err("a directory");
    assert!(err.to_string().starts_with("cannot read "), "{err}");
}

#[tokio::test(start_paused = true)]
async fn watch_sends_the_file_then_each_change() {
    let file = TempFile::with("watch.yaml", &cluster(false));
    let (mut rx, task) = watch(&file);
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web"]);

    // Unchanged: nothing is sent again.
    quiet(&mut rx, 5).await;

    // Written in place.
    file.write(&cluster(true));
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web", "api"]);

    // Replaced by a rename.
    file.replace(&cluster(false));
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web"]);

    // Rewritten with the same length: the modification time tells. (Wait out the coarse
    // timestamp granularity of older kernels.)
    std::thread::sleep(Duration::from_millis(20));
    file.write(&service_yaml("web", "10.96.0.11", "10.244.0.5"));
    let objects = next_reset(&mut rx).await;
    let KubeObject::Service(web) = &objects[0] else {
        panic!("expected the Service first: {objects:?}");
    };
    let ip = web.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    assert_eq!(ip, Some("10.96.0.11"));
    quiet(&mut rx, 3).await;

    // The runner went away: the watcher stops.
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the watcher stops when the channel closes")
        .expect("no panic");
}

#[tokio::test(start_paused = true)]
async fn watch_retries_an_unreadable_file_and_keeps_the_last_objects() {
    let file = TempFile::new("late.yaml");
    let (mut rx, task) = watch(&file);
    // Missing: nothing is sent (the runner does not sync before the first Reset).
    quiet(&mut rx, 5).await;

    file.write(&cluster(false));
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web"]);

    // Gone again: no empty Reset, the last objects stay in force.
    file.remove();
    quiet(&mut rx, 5).await;

    file.write(&cluster(true));
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web", "api"]);
    drop(rx);
    task.await.expect("no panic");
}

#[tokio::test(start_paused = true)]
async fn watch_never_sends_an_unusable_version_and_applies_the_next_good_one() {
    let file = TempFile::with("unusable.yaml", &cluster(true));
    let (mut rx, task) = watch(&file);
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web", "api"]);
    let truncated = r#"{"apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Serv"#;
    for text in [
        "",
        "not objects\n",
        truncated,
        "apiVersion: apps/v1\nkind: Deployment\n",
    ] {
        file.write(text);
        quiet(&mut rx, 4).await;
    }
    file.write(&cluster(false));
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web"]);
    drop(rx);
    task.await.expect("no panic");
}

#[tokio::test]
async fn read_refuses_an_empty_file_unless_allowed() {
    let file = TempFile::with("empty.yaml", "# nothing here\n");
    let err = FileSource::new(file.path())
        .read()
        .await
        .expect_err("empty");
    assert!(err.to_string().contains("--allow-empty-source"), "{err}");
    let objects = FileSource::new(file.path())
        .allow_empty(true)
        .read()
        .await
        .expect("allowed");
    assert!(objects.is_empty());
}

#[tokio::test(start_paused = true)]
async fn watch_never_sends_a_file_caught_half_rewritten_in_place() {
    // The worst case for YAML: the writer pauses exactly at a document boundary, so the
    // half-written file parses cleanly with fewer services. The watcher reads a version only
    // once it has stayed the same for a poll, so it never sends the half.
    let three = cluster(true) + "---\n" + &service_yaml("extra", "10.96.0.30", "10.244.0.7");
    let versions = [cluster(true), three];
    let file = TempFile::with("inplace.yaml", &versions[0]);
    let (mut rx, task) = watch(&file);
    assert_eq!(service_names(&next_reset(&mut rx).await), ["web", "api"]);
    for round in 1..=20 {
        let full = &versions[round % 2];
        let half = full.split("---\n").next().unwrap_or_default();
        file.write(half);
        tokio::time::sleep(Duration::from_millis(700)).await;
        file.write(full);
        let names = service_names(&next_reset(&mut rx).await);
        let expected: &[&str] = if round % 2 == 1 {
            &["web", "api", "extra"]
        } else {
            &["web", "api"]
        };
        assert_eq!(names, expected, "round {round}");
    }
    drop(rx);
    task.await.expect("no panic");
}
