//! One writer per network namespace: the instance lock.
//!
//! `run` holds it for its lifetime, `sync` and `cleanup` for theirs, so two svcproxy processes
//! never program one namespace at once (a `sync` overlapping a running agent, or two agent pods
//! during a DaemonSet update with surge). Interleaved writers corrupt the iptables backend:
//! each writes part of its ruleset over the other's, and both report success.
//!
//! The lock is an exclusive `flock(2)` on `/run/svcproxy/netns-<dev>-<inode>.lock`, where
//! `<dev>` and `<inode>` identify the target namespace (of `/proc/self/ns/net`, or of
//! `/run/netns/NAME` for `--netns NAME`): two names for one namespace share a lock, two
//! namespaces never do. The holder writes its PID into the file. The kernel releases an
//! `flock` when its holder exits, however it exits, so there are no stale locks. A holder that
//! releases the lock normally also unlinks the file (so it exists only while held, and none
//! pile up for namespaces long gone); a lock taken on a file that is no longer at the path is
//! dropped and taken again on the new file, so an unlinked file never admits a second holder.
//! A holder that was killed leaves its file behind, unlocked, for the next one to reuse.
//!
//! A second writer tries again every [`POLL`] for the configured wait (`--lock-wait`,
//! [`DEFAULT_WAIT`]), then gives up with [`Error::Locked`], which names the holder's PID.
//! The waiting logic ([`acquire`]) works on any [`TryLock`], so it is tested with an in-memory
//! fake; [`NetnsLock`] is the real one. `dump` takes no lock (it changes nothing), and neither
//! does `demo` (it programs a sandbox namespace that it created itself).

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;
use tracing::info;

use crate::error::Error;

/// Where the lock files live.
pub const LOCK_DIR: &str = "/run/svcproxy";

/// How long a second writer waits for the lock by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// How often a waiting writer tries again.
pub const POLL: Duration = Duration::from_millis(50);

/// The namespace file of the caller's own network namespace.
const SELF_NETNS: &str = "/proc/self/ns/net";

/// Where `ip netns add` puts named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// One attempt at taking a lock: the seam under [`acquire`].
pub trait TryLock {
    /// What holds the lock until dropped.
    type Guard;

    /// Takes the lock if it is free: `Ok(None)` if another process holds it.
    fn try_lock(&mut self) -> Result<Option<Self::Guard>, Error>;

    /// The PID of the process holding the lock, if known.
    fn holder(&self) -> Option<u32>;

    /// The lock file, for messages.
    fn path(&self) -> &Path;
}

/// Takes `lock`, trying again every [`POLL`] for at most `wait` while another process holds
/// it; then fails with [`Error::Locked`] naming the holder.
pub async fn acquire<L: TryLock>(lock: &mut L, wait: Duration) -> Result<L::Guard, Error> {
    let start = Instant::now();
    if let Some(guard) = lock.try_lock()? {
        return Ok(guard);
    }
    info!(
        holder = lock.holder(),
        lock = %lock.path().display(),
        wait = ?wait,
        "another svcproxy is programming this network namespace: waiting for it"
    );
    let deadline = start + wait;
    while Instant::now() < deadline {
        tokio::time::sleep(POLL.min(deadline - Instant::now())).await;
        if let Some(guard) = lock.try_lock()? {
            info!(waited = ?start.elapsed(), "the other svcproxy is done: lock taken");
            return Ok(guard);
        }
    }
    Err(Error::Locked {
        pid: lock.holder(),
        path: lock.path().to_path_buf(),
        waited: wait,
    })
}

/// The namespace file of the target namespace: `/run/netns/NAME`, or the caller's own.
pub fn netns_file(netns: Option<&str>) -> PathBuf {
    match netns {
        Some(name) => Path::new(NETNS_DIR).join(name),
        None => PathBuf::from(SELF_NETNS),
    }
}

/// The lock file in `dir` for the namespace whose file is `ns_file` (named by the namespace's
/// device and inode, so by its identity, not by the name used).
pub fn lock_path(dir: &Path, ns_file: &Path) -> Result<PathBuf, Error> {
    let meta = std::fs::metadata(ns_file).map_err(|source| Error::Netns {
        path: ns_file.to_path_buf(),
        source,
    })?;
    Ok(dir.join(format!("netns-{:x}-{}.lock", meta.dev(), meta.ino())))
}

/// The instance lock of one network namespace, as a file (see the module documentation).
#[derive(Debug)]
pub struct NetnsLock {
    path: PathBuf,
}

/// A held [`NetnsLock`]: released when dropped (or when the process exits).
#[derive(Debug)]
pub struct LockGuard {
    /// The locked file; closing it releases the lock.
    file: File,
    path: PathBuf,
}

impl Drop for LockGuard {
    /// Unlinks the file, then (as the file closes) releases the lock: the file exists only
    /// while the lock is held. A waiter that locks the unlinked file sees it is no longer at
    /// the path and tries again.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl NetnsLock {
    /// The lock of the namespace `ns_file` names, in `dir` (created if missing).
    pub fn new(dir: &Path, ns_file: &Path) -> Result<Self, Error> {
        let path = lock_path(dir, ns_file)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::LockFile {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(NetnsLock { path })
    }

    /// Opens (creating if needed) the lock file.
    fn open(&self) -> Result<File, Error> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&self.path)
            .map_err(|e| self.error(e))
    }

    /// Whether `file` is still the file at the lock's path.
    fn is_at_path(&self, file: &File) -> Result<bool, Error> {
        let opened = file.metadata().map_err(|e| self.error(e))?;
        Ok(match std::fs::metadata(&self.path) {
            Ok(now) => (now.dev(), now.ino()) == (opened.dev(), opened.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(self.error(e)),
        })
    }

    /// The lock file's error for `source`.
    fn error(&self, source: io::Error) -> Error {
        Error::LockFile {
            path: self.path.clone(),
            source,
        }
    }
}

impl TryLock for NetnsLock {
    type Guard = LockGuard;

    fn try_lock(&mut self) -> Result<Option<LockGuard>, Error> {
        // A holder unlinks the file as it releases it, so a lock taken on a file that is no
        // longer at the path is worthless: try again on the new one (a few times at most,
        // then report it busy).
        for _ in 0..3 {
            let mut file = self.open()?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e)) => return Err(self.error(e)),
            }
            if !self.is_at_path(&file)? {
                continue;
            }
            let pid = format!("{}\n", std::process::id());
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(pid.as_bytes()))
                .map_err(|e| self.error(e))?;
            return Ok(Some(LockGuard {
                file,
                path: self.path.clone(),
            }));
        }
        Ok(None)
    }

    fn holder(&self) -> Option<u32> {
        let mut text = String::new();
        File::open(&self.path)
            .ok()?
            .read_to_string(&mut text)
            .ok()?;
        text.trim().parse().ok()
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the instance lock of the namespace `netns` names (`None`: the caller's), waiting at
/// most `wait` for another holder.
pub async fn lock_netns(netns: Option<&str>, wait: Duration) -> Result<LockGuard, Error> {
    let mut lock = NetnsLock::new(Path::new(LOCK_DIR), &netns_file(netns))?;
    let guard = acquire(&mut lock, wait).await?;
    tracing::debug!(lock = %guard.path().display(), "instance lock taken");
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock held by PID 42 for the first `busy` attempts.
    struct FakeLock {
        busy: usize,
        attempts: usize,
        path: PathBuf,
    }

    impl FakeLock {
        fn busy_for(busy: usize) -> Self {
            FakeLock {
                busy,
                attempts: 0,
                path: PathBuf::from("/fake.lock"),
            }
        }
    }

    impl TryLock for FakeLock {
        type Guard = usize;

        fn try_lock(&mut self) -> Result<Option<usize>, Error> {
            self.attempts += 1;
            Ok((self.attempts > self.busy).then_some(self.attempts))
        }

        fn holder(&self) -> Option<u32> {
            Some(42)
        }

        fn path(&self) -> &Path {
            &self.path
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_lock_is_taken_at_once() {
        let mut lock = FakeLock::busy_for(0);
        let start = Instant::now();
        assert_eq!(acquire(&mut lock, DEFAULT_WAIT).await.expect("free"), 1);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_waits_for_the_holder_to_finish() {
        let mut lock = FakeLock::busy_for(3);
        let start = Instant::now();
        assert_eq!(acquire(&mut lock, DEFAULT_WAIT).await.expect("freed"), 4);
        assert_eq!(start.elapsed(), POLL * 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_gives_up_after_the_wait_naming_the_holder() {
        let wait = Duration::from_millis(1020);
        let mut lock = FakeLock::busy_for(usize::MAX);
        let start = Instant::now();
        let err = acquire(&mut lock, wait).await.expect_err("held");
        assert_eq!(start.elapsed(), wait, "gives up exactly at the deadline");
        assert_eq!(lock.attempts, 1 + 21, "the first try, then every 50 ms");
        assert!(
            matches!(err, Error::Locked { pid: Some(42), .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "another svcproxy (pid 42) is programming this network namespace (lock \
             /fake.lock): gave up after waiting 1.02s"
        );

        let mut lock = FakeLock::busy_for(usize::MAX);
        acquire(&mut lock, Duration::ZERO)
            .await
            .expect_err("held, no wait");
        assert_eq!(lock.attempts, 1);
    }

    /// A fresh directory under the temporary directory, removed at the end.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("svcproxy-lock-{}-{name}", std::process::id()));
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_file_lock_excludes_a_second_holder_until_released() {
        let dir = TempDir::new("exclude");
        let ns = Path::new(SELF_NETNS);
        let mut first = NetnsLock::new(&dir.0, ns).expect("lock");
        let mut second = NetnsLock::new(&dir.0, ns).expect("lock");
        assert_eq!(first.path(), second.path());
        let held = first.try_lock().expect("no error").expect("free");
        assert!(second.try_lock().expect("no error").is_none(), "held");
        assert_eq!(second.holder(), Some(std::process::id()));
        drop(held);
        assert!(!first.path().exists(), "unlinked as it was released");
        let again = second.try_lock().expect("no error").expect("released");
        assert_eq!(
            std::fs::read_to_string(again.path()).expect("read"),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn a_file_no_longer_at_the_path_is_not_trusted_and_a_new_one_is_locked() {
        let dir = TempDir::new("unlinked");
        let mut lock = NetnsLock::new(&dir.0, Path::new(SELF_NETNS)).expect("lock");
        // A waiter that opened the file before the holder unlinked it.
        let stale = lock.open().expect("open");
        std::fs::remove_file(lock.path()).expect("unlink");
        assert!(!lock.is_at_path(&stale).expect("stat"));
        let held = lock.try_lock().expect("no error").expect("free");
        assert!(lock.path().exists(), "a new file at the path");
        let mut other = NetnsLock::new(&dir.0, Path::new(SELF_NETNS)).expect("lock");
        assert!(
            other.try_lock().expect("no error").is_none(),
            "held on the new file"
        );
        drop(held);
    }

    #[test]
    fn the_lock_is_named_by_the_namespace_not_the_path() {
        let dir = Path::new("/run/svcproxy");
        let own = lock_path(dir, Path::new(SELF_NETNS)).expect("own namespace");
        let thread = lock_path(dir, Path::new("/proc/thread-self/ns/net")).expect("thread's");
        assert_eq!(own, thread, "two names for one namespace");
        let name = own.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(
            name.starts_with("netns-") && name.ends_with(".lock"),
            "{name}"
        );
        let mount_ns = lock_path(dir, Path::new("/proc/self/ns/mnt")).expect("another namespace");
        assert_ne!(own, mount_ns);

        let err =
            lock_path(dir, &netns_file(Some("svcproxy-test-no-such-netns"))).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "cannot open the network namespace /run/netns/svcproxy-test-no-such-netns"
        );
    }
}
