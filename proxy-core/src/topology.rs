//! Endpoint selection: which endpoints serve cluster traffic and which serve local traffic.
