//! Tests of `proxy_core::manifest`.
