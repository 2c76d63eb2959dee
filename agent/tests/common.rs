//! Fixtures shared by the agent's tests.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::sandbox::Sandbox;
use testkit::server::{Outcome, TcpServer, tcp_ask};
use tokio::time::Instant;

/// A file in the temporary directory with a name unique to this process and call, removed on
/// drop.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// A new path (nothing is created yet).
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("svcproxy-test-{}-{n}-{name}", std::process::id()));
        TempFile { path }
    }

    /// A new file holding `text`.
    pub fn with(name: &str, text: &str) -> Self {
        let file = TempFile::new(name);
        file.write(text);
        file
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Overwrites it in place.
    pub fn write(&self, text: &str) {
        std::fs::write(&self.path, text).expect("write the temporary file");
    }

    /// Replaces it by renaming a new file over it (a new inode, as editors and ConfigMap
    /// updates do).
    pub fn replace(&self, text: &str) {
        let tmp = self.path.with_extension("new");
        std::fs::write(&tmp, text).expect("write the replacement");
        std::fs::rename(&tmp, &self.path).expect("rename the replacement");
    }

    /// Deletes it now.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A ClusterIP Service `default/<name>` on `ip`:80 with one endpoint on node-a, as YAML.
pub fn service_yaml(name: &str, ip: &str, endpoint: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata: {{namespace: default, name: {name}}}
spec: {{clusterIP: {ip}, ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{namespace: default, name: {name}-1, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
ports: [{{name: http, port: 8080}}]
endpoints: [{{addresses: [{endpoint}], nodeName: node-a}}]
"
    )
}

/// The manifest of the services `web` and, if `with_api`, `api`.
pub fn cluster(with_api: bool) -> String {
    let mut text = service_yaml("web", "10.96.0.10", "10.244.0.5");
    if with_api {
        text.push_str("---\n");
        text.push_str(&service_yaml("api", "10.96.0.20", "10.244.0.6"));
    }
    text
}

/// A running `svcproxy run`, its stderr collected line by line; killed on drop.
pub struct Running {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    started: Instant,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start svcproxy run");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            });
        }
        Running {
            child,
            log,
            started: Instant::now(),
        }
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long ago it was started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill run");
        self.child.wait().expect("reap run");
    }

    /// The CPU time it used so far (user and system), from `/proc/PID/stat` (in USER_HZ,
    /// 100 per second).
    pub fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the process is alive");
        // The fields after the command name, which is in parentheses: utime is the 14th
        // field of the line, stime the 15th.
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<u64> = after
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().expect("a number"))
            .collect();
        Duration::from_millis((fields[0] + fields[1]) * 10)
    }

    /// How many log lines contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.log
            .lock()
            .map(|log| log.iter().filter(|l| l.contains(text)).count())
            .unwrap_or(0)
    }

    /// Waits (up to 20 s) until `text` has been logged more than `seen` times.
    pub fn wait_for(&self, text: &str, seen: usize) {
        self.wait_for_within(text, seen, Duration::from_secs(20));
    }

    /// Waits (up to `limit`) until `text` has been logged more than `seen` times.
    pub fn wait_for_within(&self, text: &str, seen: usize, limit: Duration) {
        let rounds = limit.as_millis().div_ceil(100);
        for _ in 0..rounds {
            if self.count(text) > seen {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.log.lock().map(|l| l.join("\n")).unwrap_or_default();
        panic!("svcproxy run never logged {text:?} (seen {seen} before):\n{log}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sandbox of `pods` pods, each serving TCP on port 8080 (both families); keep the servers.
pub fn serving_sandbox(prefix: &str, pods: usize) -> (Sandbox, Vec<TcpServer>) {
    let sandbox = Sandbox::builder()
        .prefix(prefix)
        .pods(pods)
        .build()
        .expect("sandbox");
    let servers = sandbox
        .pods
        .iter()
        .map(|pod| {
            let any = SocketAddr::new("::".parse().expect("address"), 8080);
            TcpServer::start(&pod.ns, any).expect("server")
        })
        .collect();
    (sandbox, servers)
}

/// The pods answering 20 connections from the client to `vip`:80, sorted, and how many
/// failed.
pub fn answers(sandbox: &Sandbox, vip: IpAddr) -> (Vec<String>, usize) {
    let mut pods = Vec::new();
    let mut failed = 0;
    for _ in 0..20 {
        match tcp_ask(
            &sandbox.client.ns,
            SocketAddr::new(vip, 80),
            Duration::from_secs(2),
        ) {
            Outcome::Answer(ip) if !pods.contains(&ip) => pods.push(ip),
            Outcome::Answer(_) => {}
            _ => failed += 1,
        }
    }
    pods.sort();
    (pods, failed)
}
