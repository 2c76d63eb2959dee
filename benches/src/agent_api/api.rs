//! The fake API server in a process of its own: [`serve`] is its body (the `fake_cluster_api`
//! binary), [`ApiProcess`] the bench's handle on it.
//!
//! The process generates the cluster, stores it in `testkit`'s fake API server on loopback,
//! prints `url URL` and then answers commands on stdin, one a line:
//! `toggle I` moves the first endpoint of service `I` to its alternate address (or back) and
//! answers `written MICROS`, the wall-clock time (microseconds since the Unix epoch) right
//! after the store took the change. It exits when stdin closes.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use testkit::fake_api::FakeApi;

use crate::cluster::Cluster;
use crate::objects;
use crate::rig::Result;

/// Generates `services` x `endpoints` plus the Node, serves them and follows stdin (see the
/// module documentation).
pub fn serve(services: u32, endpoints: u32) -> Result<()> {
    Cluster::check(services, endpoints)?;
    let cluster = Cluster::new(services, endpoints);
    let api = FakeApi::start()?;
    api.apply_json(objects::node())?;
    for i in 0..services {
        api.apply_json(objects::service(&cluster, i))?;
        api.apply_json(objects::endpoint_slice(&cluster, i, false))?;
    }
    // Nothing needs the creation history: the log of 2N changes goes.
    api.compact_all();
    let mut toggled = vec![false; services as usize];
    let mut out = std::io::stdout().lock();
    writeln!(out, "url {}", api.url())?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let reply = match line.split_once(' ') {
            Some(("toggle", i)) => toggle(&api, &cluster, &mut toggled, i),
            _ => Err(format!("unknown command {line:?}").into()),
        };
        match reply {
            Ok(at) => writeln!(out, "written {}", unix_micros(at))?,
            Err(e) => writeln!(out, "error {e}")?,
        }
        out.flush()?;
    }
    Ok(())
}

/// Toggles the first endpoint of service `i`; when the store had it.
fn toggle(api: &FakeApi, cluster: &Cluster, toggled: &mut [bool], i: &str) -> Result<SystemTime> {
    let i: u32 = i.trim().parse()?;
    let state = toggled
        .get_mut(i as usize)
        .ok_or_else(|| format!("no service {i}"))?;
    *state = !*state;
    api.apply_json(objects::endpoint_slice(cluster, i, *state))?;
    Ok(SystemTime::now())
}

/// Microseconds since the Unix epoch (0 before it).
pub fn unix_micros(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
}

/// The handle on a running `fake_cluster_api` process; kills it when dropped.
#[derive(Debug)]
pub struct ApiProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl ApiProcess {
    /// Starts `exe` serving `services` x `endpoints` and waits until it listens.
    pub fn start(exe: &Path, services: u32, endpoints: u32) -> Result<ApiProcess> {
        let mut child = Command::new(exe)
            .args([services.to_string(), endpoints.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the API process has no pipes".into());
        };
        let mut api = ApiProcess {
            child,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            url: String::new(),
        };
        let first = api.reply()?;
        api.url = first
            .strip_prefix("url ")
            .ok_or_else(|| format!("the API process said {first:?}, not its URL"))?
            .to_owned();
        Ok(api)
    }

    /// The server's URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Toggles the first endpoint of service `i`; when the store took the change.
    pub fn toggle(&mut self, i: u32) -> Result<SystemTime> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the API process's stdin is closed")?;
        writeln!(stdin, "toggle {i}")?;
        stdin.flush()?;
        let reply = self.reply()?;
        let micros: u64 = match reply.strip_prefix("written ") {
            Some(m) => m.parse()?,
            None => return Err(format!("the API process said {reply:?}").into()),
        };
        Ok(UNIX_EPOCH + Duration::from_micros(micros))
    }

    /// The next line on the process's stdout.
    fn reply(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err("the API process exited".into());
        }
        Ok(line.trim_end().to_owned())
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        // Closing stdin ends it; the kill covers a hung one.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
