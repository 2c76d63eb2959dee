//! The file source (`--source file:PATH`): a file of Services, EndpointSlices and Nodes, read
//! with [`proxy_core::manifest::parse`] and handed to the runner whole, as a
//! [`SourceEvent::Reset`].
//!
//! [`FileSource::read`] reads it once (`sync`, `dump`); [`FileSource::watch`] (`run`) polls
//! its metadata every second and re-reads it when it changes: written in place, or replaced
//! by a rename (a new inode), including through a symbolic link such as a ConfigMap volume's.
//! A file that changes while it is read is read again at the next poll, so a half-written file
//! is not used if the writer is still writing; writers should still replace the file by a
//! rename, which is atomic. While the file cannot be read, the last objects read stay in
//! force.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proxy_core::runner::SourceEvent;
use proxy_core::{KubeObject, manifest};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// How often [`FileSource::watch`] looks at the file.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The source file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {error}", path.display())]
pub struct SourceError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

/// A file of Kubernetes objects.
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    poll_interval: Duration,
}

/// What identifies one version of the file: a change of any part means it must be read again.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// The stamp of the file at `path` (following symbolic links).
    fn of(path: &Path) -> io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The outcome of one look at the file.
enum Poll {
    /// Same stamp as the version last read.
    Unchanged,
    /// It changed while being read: read it again later.
    Unsettled,
    /// A new version, read.
    Changed(Stamp, Parsed),
}

/// The objects of one version of the file, and what was skipped.
struct Parsed {
    objects: Vec<KubeObject>,
    warnings: Vec<proxy_core::Error>,
}

impl FileSource {
    /// The file at `path`, polled every [`POLL_INTERVAL`] when watched.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            poll_interval: POLL_INTERVAL,
        }
    }

    /// Polls every `interval` instead.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and parses the file once, logging each object that had to be skipped.
    pub async fn read(&self) -> Result<Vec<KubeObject>, SourceError> {
        let path = self.path.clone();
        let parsed = blocking(&self.path, move || read_file(&path)).await?;
        Ok(self.report(parsed))
    }

    /// Sends a [`SourceEvent::Reset`] with the file's objects now and after each change, until
    /// `events` closes (the runner stopped). While the file cannot be read, logs a warning
    /// (once per distinct error) and tries again at each poll.
    pub async fn watch(self, events: mpsc::Sender<SourceEvent>) {
        let mut last: Option<Stamp> = None;
        let mut failing: Option<String> = None;
        loop {
            let path = self.path.clone();
            let seen = last.clone();
            match blocking(&self.path, move || poll_file(&path, seen.as_ref())).await {
                Ok(Poll::Unchanged) => {}
                Ok(Poll::Unsettled) => {
                    debug!(path = %self.path.display(), "source file changed while being read: reading it again at the next poll");
                }
                Ok(Poll::Changed(stamp, parsed)) => {
                    if failing.take().is_some() {
                        info!(path = %self.path.display(), "source file readable again");
                    }
                    last = Some(stamp);
                    let objects = self.report(parsed);
                    if events.send(SourceEvent::Reset(objects)).await.is_err() {
                        break;
                    }
                }
                Err(err) => {
                    let message = err.error.to_string();
                    if failing.as_deref() == Some(message.as_str()) {
                        debug!(path = %self.path.display(), error = %message, "source file still unreadable");
                    } else {
                        warn!(path = %self.path.display(), error = %message, "cannot read the source file: keeping the last objects read, retrying");
                        failing = Some(message);
                    }
                }
            }
            tokio::select! {
                () = events.closed() => break,
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
        debug!(path = %self.path.display(), "file source stopped");
    }

    /// Logs what parsing skipped and what was read; returns the objects.
    fn report(&self, parsed: Parsed) -> Vec<KubeObject> {
        for error in &parsed.warnings {
            warn!(path = %self.path.display(), error = %error, "skipped part of the source file");
        }
        info!(
            path = %self.path.display(),
            objects = parsed.objects.len(),
            skipped = parsed.warnings.len(),
            "read the source file"
        );
        parsed.objects
    }
}

/// Runs file I/O (and parsing, which may be long for a big file) off the async threads.
async fn blocking<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => Err(SourceError {
            path: path.to_owned(),
            error: io::Error::other(err),
        }),
    }
}

/// Reads and parses the file.
fn read_file(path: &Path) -> Result<Parsed, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|error| SourceError {
        path: path.to_owned(),
        error,
    })?;
    let (objects, warnings) = manifest::parse(&text);
    Ok(Parsed { objects, warnings })
}

/// Reads the file if its stamp differs from `last`, checking it did not change meanwhile.
fn poll_file(path: &Path, last: Option<&Stamp>) -> Result<Poll, SourceError> {
    let stamp = |path: &Path| {
        Stamp::of(path).map_err(|error| SourceError {
            path: path.to_owned(),
            error,
        })
    };
    let before = stamp(path)?;
    if last == Some(&before) {
        return Ok(Poll::Unchanged);
    }
    let parsed = read_file(path)?;
    if stamp(path)? != before {
        return Ok(Poll::Unsettled);
    }
    Ok(Poll::Changed(before, parsed))
}
