//! `manifest::parse` over any bytes (read as UTF-8, invalid sequences replaced), seeded with
//! well-formed manifests: it must not panic, and every object it returns must convert without
//! a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_core::{KubeObject, convert, manifest};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (objects, _errors) = manifest::parse(&text);
    for o in &objects {
        match o {
            KubeObject::Service(s) => drop(convert::service(s)),
            KubeObject::EndpointSlice(s) => drop(convert::endpoint_slice(s, "node-a")),
            KubeObject::Node(n) => drop(convert::node(n)),
        }
    }
});
