//! [`Netns`]: a network namespace that exists exactly as long as its guard.
//!
//! [`Netns::new`] runs `ip netns add <prefix>-<pid>-<n>` (so the namespace is bind-mounted at
//! `/run/netns/<name>`, where `ip netns exec` and `ip -n` find it) and brings `lo` up; dropping
//! the guard runs `ip netns del`, also while a panic unwinds. A failed delete is logged with
//! `tracing`, never turned into a panic.
//!
//! Code runs inside the namespace in three ways:
//!
//! - as a command: [`Netns::exec`], [`Netns::sh`], [`Netns::ip`], [`Netns::ip_batch`],
//!   [`Netns::sysctl`];
//! - as a closure on a fresh thread that has `setns`ed into the namespace, waited for:
//!   [`Netns::enter`] / [`Netns::try_enter`]. Sockets (including netlink sockets) created there
//!   stay in the namespace after the thread ends, so "bind in the namespace, serve from
//!   anywhere" works;
//! - as a background thread living in the namespace: [`Netns::spawn`].
//!
//! The calling thread never changes namespace, and nothing here touches the caller's (host's)
//! network namespace.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};

use nix::sched::CloneFlags;

use crate::error::{Error, Result};

/// Where `ip netns add` bind-mounts named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Makes every name this process creates unique, together with the pid.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A named network namespace, deleted (`ip netns del`) when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
    path: PathBuf,
}

impl Netns {
    /// Creates the namespace `<prefix>-<pid>-<n>` and brings its loopback interface up.
    ///
    /// `prefix` is 1 to 40 characters from `[A-Za-z0-9_.-]`, not starting with `-` or `.`.
    pub fn new(prefix: &str) -> Result<Netns> {
        check_prefix(prefix)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]), None)?;
        // The guard exists from here on: any later failure deletes the namespace again.
        let ns = Netns {
            path: Path::new(NETNS_DIR).join(&name),
            name,
        };
        ns.ip(["link", "set", "lo", "up"])?;
        tracing::debug!(netns = %ns.name, "created network namespace");
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file (`/run/netns/<name>`): open it and `setns` to work inside.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `ip netns exec <name> program args...`; an error (with its stderr) unless it exits 0.
    pub fn exec<I, S>(&self, program: &str, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(&mut self.exec_command(program, args), None)
    }

    /// Like [`Netns::exec`] but returns the output whatever the exit status.
    pub fn output<I, S>(&self, program: &str, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.exec_command(program, args);
        command.output().map_err(|source| Error::Spawn {
            command: render(&command),
            source,
        })
    }

    /// Like [`Netns::exec`], discarding the output.
    pub fn exec_ok<I, S>(&self, program: &str, args: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.exec(program, args).map(drop)
    }

    /// Runs `sh -c cmd` in the namespace and returns its standard output.
    pub fn sh(&self, cmd: &str) -> Result<String> {
        let output = self.exec("sh", ["-c", cmd])?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `ip -n <name> args...` (no `exec`, so it is cheaper) and returns its standard output.
    pub fn ip<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new("ip");
        command.arg("-n").arg(&self.name).args(args);
        let output = run(&mut command, None)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs several `ip` commands (one per line, without the leading `ip`, for example
    /// `route add 10.0.0.0/8 dev eth0`) in one `ip -n <name> -batch -` process. Stops at the first
    /// failing line; the error's stderr names it.
    pub fn ip_batch<I, S>(&self, lines: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut script = String::new();
        for line in lines {
            script.push_str(line.as_ref());
            script.push('\n');
        }
        let mut command = Command::new("ip");
        command.args(["-n", &self.name, "-batch", "-"]);
        run(&mut command, Some(&script)).map(drop)
    }

    /// Sets sysctls of this namespace: each assignment is `key=value`, for example
    /// `net.ipv4.ip_forward=1`. Only per-namespace keys (`net.*`) make sense here.
    pub fn sysctl(&self, assignments: &[&str]) -> Result<()> {
        let mut args = vec!["-q", "-w"];
        args.extend_from_slice(assignments);
        self.exec_ok("sysctl", args)
    }

    /// Runs `f` on a fresh thread that has joined this namespace, and returns what it returns.
    ///
    /// A panic in `f` resumes on the caller's thread.
    ///
    /// # Panics
    ///
    /// If the thread cannot join the namespace, which needs `CAP_SYS_ADMIN` and a namespace
    /// file that still exists (it does while `self` lives). Use [`Netns::try_enter`] to get an
    /// error instead.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match self.try_enter(f) {
            Ok(value) => value,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Netns::enter`], returning an error if the thread cannot be started or cannot join
    /// the namespace.
    pub fn try_enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let file = self.open()?;
        let name = self.name.as_str();
        thread::scope(|scope| {
            let handle = thread::Builder::new()
                .name(thread_name(name))
                .spawn_scoped(scope, move || {
                    join(name, &file)?;
                    drop(file);
                    Ok(f())
                })
                .map_err(|e| Error::io("cannot start a thread", e))?;
            match handle.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Starts a background thread that joins this namespace and then runs `f`. Returns once the
    /// thread is inside (or with the error if it could not get there, in which case `f` never
    /// runs).
    ///
    /// The thread keeps the namespace alive (unnamed) until it ends, even after the guard has
    /// deleted its name, so make `f` stop on its own (a stop flag, a channel).
    pub fn spawn<T, F>(&self, f: F) -> Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let file = self.open()?;
        let name = self.name.clone();
        let (tx, rx) = mpsc::sync_channel(1);
        let handle = thread::Builder::new()
            .name(thread_name(&name))
            .spawn(move || {
                let entered = join(&name, &file);
                drop(file);
                let inside = entered.is_ok();
                // The receiver only goes away if the spawner is gone; then nobody cares.
                let _ = tx.send(entered);
                if !inside {
                    // End the thread without running `f` (and without the panic hook's noise).
                    std::panic::resume_unwind(Box::new("could not enter the network namespace"));
                }
                f()
            })
            .map_err(|e| Error::io("cannot start a thread", e))?;
        match rx.recv() {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Enter {
                name: self.name.clone(),
                source: std::io::Error::other("the thread ended before entering"),
            }),
        }
    }

    fn open(&self) -> Result<File> {
        File::open(&self.path).map_err(|source| Error::Enter {
            name: self.name.clone(),
            source,
        })
    }

    fn exec_command<I, S>(&self, program: &str, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, program])
            .args(args);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        match run(Command::new("ip").args(["netns", "del", &self.name]), None) {
            Ok(_) => tracing::debug!(netns = %self.name, "deleted network namespace"),
            Err(e) => {
                tracing::warn!(netns = %self.name, error = %e, "cannot delete network namespace")
            }
        }
    }
}

/// The names `ip netns list` shows (all of them, not only this crate's).
pub fn list() -> Result<Vec<String>> {
    let output = run(Command::new("ip").args(["netns", "list"]), None)?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        // Lines look like `name (id: 3)` or just `name`.
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Moves the current thread into the namespace behind `file`.
fn join(name: &str, file: &File) -> Result<()> {
    nix::sched::setns(file, CloneFlags::CLONE_NEWNET).map_err(|errno| Error::Enter {
        name: name.to_owned(),
        source: errno.into(),
    })
}

fn thread_name(netns: &str) -> String {
    format!("netns:{netns}")
}

fn check_prefix(prefix: &str) -> Result<()> {
    let good = (1..=40).contains(&prefix.len())
        && !prefix.starts_with(['-', '.'])
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if good {
        Ok(())
    } else {
        Err(Error::InvalidPrefix(prefix.to_owned()))
    }
}

/// Runs `command` (feeding it `stdin` if given); an error unless it exits 0.
pub(crate) fn run(command: &mut Command, stdin: Option<&str>) -> Result<Output> {
    let rendered = render(command);
    tracing::trace!(command = %rendered, "running");
    let spawn_error = |source| Error::Spawn {
        command: rendered.clone(),
        source,
    };
    let output = match stdin {
        None => command.output().map_err(spawn_error)?,
        Some(text) => {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(spawn_error)?;
            if let Some(mut pipe) = child.stdin.take() {
                // A write error (the child quit early) shows up in its exit status.
                let _ = pipe.write_all(text.as_bytes());
            }
            child.wait_with_output().map_err(spawn_error)?
        }
    };
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Failed {
            command: rendered,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// `program arg arg...`, for messages.
fn render(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::check_prefix;

    #[test]
    fn prefixes() {
        for good in ["tk", "svcproxy-e2e", "a.b_c-1", &"x".repeat(40)] {
            assert!(check_prefix(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "ünï", &"x".repeat(41)] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
