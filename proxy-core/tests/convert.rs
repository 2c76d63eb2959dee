//! Tests of `proxy_core::convert`.
