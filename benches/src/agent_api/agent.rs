//! [`Agent`]: a `svcproxy run --source kube --backend nftables` process programming a fresh
//! network namespace of its own, its log collected line by line.
//!
//! Dropping it (also while a panic unwinds) stops the process (SIGTERM, SIGKILL after 5 s),
//! deletes its table and then the namespace; the host's namespace is never programmed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use backend_nft::names;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use testkit::Netns;
use tokio::time::Instant;

use super::log::Line;
use crate::cluster::{CLUSTER_CIDR, NODE_IP, NODE_NAME, SERVICE_CIDR};
use crate::rig::Result;

/// The agent's log filter: every sync (partial ones are logged at debug).
const RUST_LOG: &str = "info,proxy_core::runner=debug";

/// How many untimestamped or unparsed lines are kept for error messages.
const TAIL: usize = 20;

/// What an agent is started with besides the API server's URL.
#[derive(Clone, Debug, Default)]
pub struct AgentOptions {
    /// `--sync-period`, if not the agent's default.
    pub sync_period: Option<String>,
}

/// A running agent (see the module documentation).
#[derive(Debug)]
pub struct Agent {
    child: Child,
    log: Arc<Log>,
    spawned_at: SystemTime,
    // Dropped last: the process is gone by then.
    ns: Netns,
}

/// Lines logged so far, and the raw tail.
#[derive(Debug, Default)]
struct Log {
    lines: Mutex<(Vec<Line>, VecDeque<String>)>,
    grew: Condvar,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, (Vec<Line>, VecDeque<String>)> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The agent's memory, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now, in bytes.
    pub rss: u64,
    /// `VmHWM`: the most ever resident, in bytes.
    pub hwm: u64,
}

impl Agent {
    /// Creates a namespace and starts `exe` programming it from the API server at `url`,
    /// with `--min-sync-period 0s`.
    pub fn spawn(exe: &Path, url: &str, options: &AgentOptions) -> Result<Agent> {
        let ns = Netns::new("svcproxy-agent-bench")?;
        let mut cmd = Command::new(exe);
        cmd.args([
            "run",
            "--backend",
            "nftables",
            "--source",
            "kube",
            "--master",
            url,
        ])
        .args(["--node-name", NODE_NAME, "--node-ip", &NODE_IP.to_string()])
        .args(["--cluster-cidr", &CLUSTER_CIDR.to_string()])
        .args(["--service-cidr", &SERVICE_CIDR.to_string()])
        .args(["--min-sync-period", "0s", "--netns", ns.name()]);
        if let Some(period) = &options.sync_period {
            cmd.args(["--sync-period", period]);
        }
        cmd.env("RUST_LOG", RUST_LOG)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned_at = SystemTime::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let log = Arc::new(Log::default());
        if let Some(stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for raw in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    let mut lines = log.lock();
                    match Line::parse(&raw) {
                        Some(line) => lines.0.push(line),
                        None => {
                            if lines.1.len() == TAIL {
                                lines.1.pop_front();
                            }
                            lines.1.push_back(raw);
                        }
                    }
                    log.grew.notify_all();
                }
            });
        }
        Ok(Agent {
            child,
            log,
            spawned_at,
            ns,
        })
    }

    /// When the process was spawned (wall clock, comparable with log timestamps).
    pub fn spawned_at(&self) -> SystemTime {
        self.spawned_at
    }

    /// How many timestamped lines were logged so far.
    pub fn lines(&self) -> usize {
        self.log.lock().0.len()
    }

    /// What `f` picks from every line at index `from` or later, now.
    pub fn scan<T>(&self, from: usize, f: impl Fn(&Line) -> Option<T>) -> Vec<T> {
        let lines = self.log.lock();
        lines.0.iter().skip(from).filter_map(f).collect()
    }

    /// The first line at index `from` or later that `f` picks, with its index; waits up to
    /// `limit` for it. An error if the agent exits or the time runs out.
    pub fn wait_for<T>(
        &mut self,
        from: usize,
        limit: Duration,
        f: impl Fn(&Line) -> Option<T>,
    ) -> Result<(usize, T)> {
        let deadline = Instant::now() + limit;
        let mut seen = from;
        let mut lines = self.log.lock();
        loop {
            if let Some(found) = lines.0[seen.min(lines.0.len())..]
                .iter()
                .enumerate()
                .find_map(|(k, l)| f(l).map(|t| (seen + k, t)))
            {
                return Ok(found);
            }
            seen = seen.max(lines.0.len());
            let now = Instant::now();
            if now >= deadline {
                return Err(self.failure(&lines, "timed out"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failure(&lines, &format!("exited ({status})")));
            }
            let wait = (deadline - now).min(Duration::from_millis(200));
            lines = match self.log.grew.wait_timeout(lines, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// An error naming what happened, with the last lines logged.
    fn failure(&self, lines: &(Vec<Line>, VecDeque<String>), what: &str) -> crate::rig::Error {
        let last: Vec<&str> = lines
            .0
            .iter()
            .rev()
            .take(5)
            .map(|l| l.text.as_str())
            .collect();
        let raw: Vec<&String> = lines.1.iter().collect();
        format!("svcproxy run {what}; last lines: {last:?}; other output: {raw:?}").into()
    }

    /// The process's resident memory now and at its peak.
    pub fn memory(&self) -> Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = |key: &str| -> Result<u64> {
            let line = status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .ok_or_else(|| format!("no {key} in /proc/PID/status"))?;
            let number = line.trim().trim_end_matches("kB").trim();
            Ok(number.parse::<u64>()? * 1024)
        };
        Ok(Memory {
            rss: kib("VmRSS:")?,
            hwm: kib("VmHWM:")?,
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The rules stay after `run` exits: empty the namespace now, rather than leave a big
        // table to the kernel's asynchronous teardown during the next measurement.
        let _ = self
            .ns
            .output("nft", ["delete", "table", "ip", names::TABLE]);
    }
}
