//! Memory and time of reading a large source file: a `kubectl get -o json`-style List of
//! Services and EndpointSlices (and the same as YAML), read the way `svcproxy sync` reads it.
//!
//! Each measurement runs in a child process of its own (this binary, re-executed), so its peak
//! resident set (`VmHWM`) is its own: the peak of reading the file (`parse`), and of reading it
//! and building the tracker's state from it (`parse+track`, what `sync` holds before planning).
//! The ratio to the file's size is what the reliability issue bounds (target: under 3x).
//!
//! `cargo bench -p benches --bench manifest [-- --mb 200 --endpoints 10 --yaml]`

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use tokio::time::Instant;

use proxy_core::manifest;
use proxy_core::model::NodeInfo;
use proxy_core::tracker::ChangeTracker;
use serde_json::{Value, json};

/// The environment variable that makes this binary a measuring child: `MODE:PATH`.
const CHILD: &str = "SVCPROXY_MANIFEST_CHILD";

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (mb, endpoints) = (arg("--mb", 200), arg("--endpoints", 10));
    let mut formats = vec!["json"];
    if args.iter().any(|a| a == "--yaml") {
        formats.push("yaml");
    }
    println!(
        "format  services  endpoints/slice  file MB  mode         peak RSS MB  ratio  seconds"
    );
    for format in formats {
        let path = std::env::temp_dir().join(format!("svcproxy-manifest-bench.{format}"));
        let services = generate(&path, format, mb << 20, endpoints as usize);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        for mode in ["parse", "parse+track"] {
            let (peak, seconds) = measure(mode, &path);
            println!(
                "{format:<7} {services:>9} {endpoints:>16} {:>8.1}  {mode:<12} {:>11.1}  {:>5.2}  {seconds:>7.2}",
                mb_of(size),
                mb_of(peak),
                peak as f64 / size as f64
            );
        }
        let _ = std::fs::remove_file(&path);
    }
}

fn mb_of(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Runs one measurement in a child; its peak RSS in bytes and the seconds it took.
fn measure(mode: &str, path: &Path) -> (u64, f64) {
    let exe = std::env::current_exe().expect("this binary");
    let out = Command::new(exe)
        .env(CHILD, format!("{mode}:{}", path.display()))
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let peak = fields.next().and_then(|v| v.parse().ok());
    let seconds = fields.next().and_then(|v| v.parse().ok());
    match (peak, seconds) {
        (Some(peak), Some(seconds)) => (peak, seconds),
        _ => panic!(
            "child failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The child: reads the file as `mode` says, prints its peak RSS in bytes and the seconds.
fn child(spec: &str) {
    let (mode, path) = spec.split_once(':').expect("MODE:PATH");
    let started = Instant::now();
    let file = File::open(path).expect("the generated file");
    let manifest = manifest::read(file);
    assert!(manifest.check(false).is_ok(), "{:?}", manifest.unreadable);
    let mut objects = manifest.objects.len();
    if mode == "parse+track" {
        let mut tracker = ChangeTracker::new(NodeInfo::new("node-a".to_owned()));
        let errors = tracker.reset_owned(manifest.objects);
        assert!(errors.is_empty(), "{errors:?}");
        tracker.take_delta();
        objects = tracker.state().services.len();
        std::hint::black_box(&tracker);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(objects);
    println!("{} {seconds}", peak_rss());
}

/// This process's peak resident set in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Writes a List of Services and their EndpointSlices of about `bytes` bytes; returns the
/// number of services.
fn generate(path: &PathBuf, format: &str, bytes: u64, endpoints: usize) -> usize {
    let sample = 100;
    let per_service = render(format, &list(sample, endpoints)).len() / sample;
    let services = (bytes as usize / per_service.max(1)).max(1);
    let mut out = BufWriter::new(File::create(path).expect("create the file"));
    out.write_all(&render(format, &list(services, endpoints)))
        .expect("write");
    out.flush().expect("flush");
    services
}

/// A List of `services` Services and their slices.
fn list(services: usize, endpoints: usize) -> Value {
    let items: Vec<Value> = (0..services)
        .flat_map(|i| [service(i), slice(i, endpoints)])
        .collect();
    json!({"apiVersion": "v1", "items": items, "kind": "List",
           "metadata": {"resourceVersion": ""}})
}

/// The text of a value as kubectl prints it: pretty JSON or YAML.
fn render(format: &str, value: &Value) -> Vec<u8> {
    match format {
        "json" => serde_json::to_vec_pretty(value).expect("serialize"),
        _ => serde_yaml_ng::to_string(value)
            .expect("serialize")
            .into_bytes(),
    }
}

/// Service `i` as the API server returns it.
fn service(i: usize) -> Value {
    let ip = format!("10.{}.{}.{}", 96 + i / 65536, (i / 256) % 256, i % 256);
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": format!("svc-{i}"), "namespace": format!("ns-{}", i / 1000),
            "uid": format!("7c1e0f8a-0000-4000-8000-{i:012}"), "resourceVersion": format!("{}", 1000 + i),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": format!("app-{i}"), "team": "payments"}
        },
        "spec": {
            "clusterIP": ip, "clusterIPs": [ip], "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
            "selector": {"app": format!("app-{i}")}, "sessionAffinity": "None", "type": "ClusterIP"
        },
        "status": {"loadBalancer": {}}
    })
}

/// The EndpointSlice of service `i` with `n` endpoints.
fn slice(i: usize, n: usize) -> Value {
    let endpoints: Vec<Value> = (0..n)
        .map(|j| {
            let k = i * n + j;
            json!({
                "addresses": [format!("10.{}.{}.{}", 128 + k / 65536 % 64, (k / 256) % 256, k % 256)],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": format!("node-{}", k % 50),
                "targetRef": {"kind": "Pod", "name": format!("app-{i}-{j}"),
                              "namespace": format!("ns-{}", i / 1000),
                              "uid": format!("5d2a9b1c-0000-4000-8000-{k:012}")},
                "zone": format!("zone-{}", k % 3)
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "addressType": "IPv4", "endpoints": endpoints,
        "metadata": {
            "name": format!("svc-{i}-abcde"), "namespace": format!("ns-{}", i / 1000),
            "generateName": format!("svc-{i}-"), "resourceVersion": format!("{}", 2000 + i),
            "uid": format!("0b6e8f3d-0000-4000-8000-{i:012}"),
            "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                       "kubernetes.io/service-name": format!("svc-{i}")}
        },
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    })
}
