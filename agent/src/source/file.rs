//! The file source (`--source file:PATH`): a file of Services, EndpointSlices and Nodes, read
//! with [`proxy_core::manifest::parse`] and handed to the runner whole, as a
//! [`SourceEvent::Reset`].
//!
//! [`FileSource::read`] reads it once (`sync`, `dump`); [`FileSource::watch`] (`run`) polls
//! its metadata every second and re-reads it when it changes: written in place, or replaced
//! by a rename (a new inode), including through a symbolic link such as a ConfigMap volume's.
//! A new version is read only once it has kept the same size and times for one poll (a writer
//! rewriting the file in place is given time to finish), and a version that changes while it is
//! read is read again at the next poll; writers should still replace the file by a rename,
//! which is atomic.
//!
//! A read is applied only if [`Manifest::check`] accepts it: a truncated JSON text, an empty
//! file (unless [`FileSource::allow_empty`]), text that holds no usable object, a file over
//! [`manifest::MAX_BYTES`]. `read` fails on such a read; `watch` logs why once and keeps the
//! objects last applied. While the file cannot be read at all, the last objects stay in force
//! too.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proxy_core::KubeObject;
use proxy_core::manifest::{self, Manifest, Unusable};
use proxy_core::runner::SourceEvent;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// How often [`FileSource::watch`] looks at the file.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The source file could not be read, or what it holds must not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: io::Error,
    },
    /// The file was read, but applying it would lose services.
    #[error("refusing to apply {}: {why}{}", path.display(), hint(why))]
    Unusable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: Unusable,
    },
}

impl SourceError {
    /// An I/O error about `path`.
    fn io(path: &Path, error: io::Error) -> Self {
        SourceError::Io {
            path: path.to_owned(),
            error,
        }
    }
}

/// What the user can do about a refused read, if anything.
fn hint(why: &Unusable) -> &'static str {
    match why {
        Unusable::Empty => " (pass --allow-empty-source if removing every service is meant)",
        _ => "",
    }
}

/// A file of Kubernetes objects.
#[derive(Clone, Debug)]
pub struct FileSource {
    path: PathBuf,
    poll_interval: Duration,
    allow_empty: bool,
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
    /// A new version, not settled yet or changed while being read: read it again later.
    Unsettled(Stamp),
    /// A new version, read (the read may still be unusable).
    Changed(Stamp, Manifest),
}

impl FileSource {
    /// The file at `path`, polled every [`POLL_INTERVAL`] when watched.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            poll_interval: POLL_INTERVAL,
            allow_empty: false,
        }
    }

    /// Whether a file without objects is applied (removing every service) instead of refused.
    pub fn allow_empty(mut self, allow: bool) -> Self {
        self.allow_empty = allow;
        self
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

    /// Reads and parses the file once, logging each object that had to be skipped. Fails if
    /// the file cannot be read or its read must not be applied.
    pub async fn read(&self) -> Result<Vec<KubeObject>, SourceError> {
        let path = self.path.clone();
        let manifest = blocking(&self.path, move || read_file(&path)).await?;
        self.accept(manifest)
    }

    /// Sends a [`SourceEvent::Reset`] with the file's objects now and after each change, until
    /// `events` closes (the runner stopped). While the file cannot be read, or a version of it
    /// must not be applied, logs a warning (once per distinct error) and keeps the last
    /// objects sent.
    pub async fn watch(self, events: mpsc::Sender<SourceEvent>) {
        let mut last: Option<Stamp> = None;
        let mut seen: Option<Stamp> = None;
        let mut failing: Option<String> = None;
        loop {
            let path = self.path.clone();
            let (settled, read) = (seen.clone(), last.clone());
            let poll = blocking(&self.path, move || {
                poll_file(&path, read.as_ref(), settled.as_ref())
            })
            .await;
            let result = match poll {
                Ok(Poll::Unchanged) => Ok(None),
                Ok(Poll::Unsettled(stamp)) => {
                    debug!(path = %self.path.display(), "source file changed: reading it once it has settled");
                    seen = Some(stamp);
                    Ok(None)
                }
                Ok(Poll::Changed(stamp, manifest)) => {
                    (last, seen) = (Some(stamp.clone()), Some(stamp));
                    self.accept(manifest).map(Some)
                }
                Err(err) => Err(err),
            };
            match result {
                Ok(None) => {}
                Ok(Some(objects)) => {
                    if failing.take().is_some() {
                        info!(path = %self.path.display(), "source file usable again");
                    }
                    if events.send(SourceEvent::Reset(objects)).await.is_err() {
                        break;
                    }
                }
                Err(err) => self.report_failure(&err, &mut failing),
            }
            tokio::select! {
                () = events.closed() => break,
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
        debug!(path = %self.path.display(), "file source stopped");
    }

    /// Logs a failed read or a refused version: a warning the first time, then at debug level
    /// while the same error repeats.
    fn report_failure(&self, err: &SourceError, failing: &mut Option<String>) {
        let message = err.to_string();
        if failing.as_deref() == Some(message.as_str()) {
            debug!(path = %self.path.display(), error = %message, "source file still unusable");
        } else {
            warn!(path = %self.path.display(), error = %message, "source file unusable: keeping the objects last applied");
            *failing = Some(message);
        }
    }

    /// Logs what parsing skipped and what was read; returns the objects if the read may be
    /// applied.
    fn accept(&self, manifest: Manifest) -> Result<Vec<KubeObject>, SourceError> {
        for error in &manifest.errors {
            warn!(path = %self.path.display(), error = %error, "skipped part of the source file");
        }
        if let Err(why) = manifest.check(self.allow_empty) {
            return Err(SourceError::Unusable {
                path: self.path.clone(),
                why,
            });
        }
        info!(
            path = %self.path.display(),
            bytes = manifest.bytes,
            objects = manifest.objects.len(),
            skipped = manifest.errors.len(),
            "read the source file"
        );
        Ok(manifest.objects)
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
        Err(err) => Err(SourceError::io(path, io::Error::other(err))),
    }
}

/// Reads and parses the file, refusing one larger than [`manifest::MAX_BYTES`] before reading.
fn read_file(path: &Path) -> Result<Manifest, SourceError> {
    let file = File::open(path).map_err(|e| SourceError::io(path, e))?;
    let metadata = file.metadata().map_err(|e| SourceError::io(path, e))?;
    if metadata.is_dir() {
        return Err(SourceError::io(path, io::ErrorKind::IsADirectory.into()));
    }
    let len = metadata.len();
    if len > manifest::MAX_BYTES {
        return Err(SourceError::Unusable {
            path: path.to_owned(),
            why: Unusable::Unreadable(format!(
                "the file has {len} bytes, over the limit of {} bytes",
                manifest::MAX_BYTES
            )),
        });
    }
    Ok(manifest::read(file))
}

/// Reads the file if its stamp differs from `last` (the version last read) and equals
/// `settled` (seen at the previous poll), checking it did not change meanwhile.
fn poll_file(
    path: &Path,
    last: Option<&Stamp>,
    settled: Option<&Stamp>,
) -> Result<Poll, SourceError> {
    let stamp = |path: &Path| Stamp::of(path).map_err(|e| SourceError::io(path, e));
    let before = stamp(path)?;
    if last == Some(&before) {
        return Ok(Poll::Unchanged);
    }
    if settled != Some(&before) {
        return Ok(Poll::Unsettled(before));
    }
    let manifest = read_file(path)?;
    if stamp(path)? != before {
        return Ok(Poll::Unsettled(before));
    }
    Ok(Poll::Changed(before, manifest))
}
