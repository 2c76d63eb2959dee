//! Tests of `proxy_core::runner`.
