//! Tests of `proxy_core::tracker`.
