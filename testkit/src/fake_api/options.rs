//! How a fake API server is set up ([`Options`]), paused ([`Pause`]) and what it counts
//! ([`Requests`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Settings of a fake API server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen; port 0 picks a free port, which [`super::FakeApi::restart`] reuses.
    /// Default `127.0.0.1:0`.
    pub addr: SocketAddr,
    /// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK event (the real
    /// server sends about one a minute). Default 1 s.
    pub bookmark_interval: Duration,
    /// Whether watches accept `sendInitialEvents=true` (streaming lists, the WatchList
    /// feature). When false the server refuses such a watch with 422 Invalid, as a server
    /// with the WatchList feature gate off does. Default true.
    pub streaming_lists: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            bookmark_interval: Duration::from_secs(1),
            streaming_lists: true,
        }
    }
}

/// How a paused server answers new requests (see [`super::FakeApi::pause`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// 503 Service Unavailable with a Status body, at once.
    Unavailable,
    /// No answer until unpaused (the connection stays open, like a hung server).
    Hang,
}

/// Requests received for one kind since the server was created (restarts included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// List requests that start a list (no `continue`): initial lists and relists.
    pub lists: u64,
    /// List requests of every page (with or without `continue`).
    pub pages: u64,
    /// Watch requests.
    pub watches: u64,
    /// GETs of a single object.
    pub gets: u64,
}
