//! Tests of `proxy_core::topology`.
