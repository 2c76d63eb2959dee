//! Conversion of generated objects yields only valid model values.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proxy_core::model::{IpFamily, ServicePort};
use proxy_core::{Error, KubeObject, ObjectKind, convert};
use testkit::arb::{self, objects};

/// What every converted service port satisfies (the planners rely on it).
fn assert_valid_ports(ports: &[ServicePort]) {
    let mut names = BTreeSet::new();
    for p in ports {
        assert!(
            names.insert((&p.name.port, p.name.protocol)),
            "duplicate {}",
            p.name
        );
        assert!(!p.name.service.namespace.is_empty() && !p.name.service.name.is_empty());
        assert!(
            (1..=2).contains(&p.cluster_ips.len()),
            "{:?}",
            p.cluster_ips
        );
        let families: BTreeSet<IpFamily> = p.cluster_ips.iter().map(IpFamily::of).collect();
        assert_eq!(
            families.len(),
            p.cluster_ips.len(),
            "one cluster IP per family"
        );
        assert_ne!(p.port, 0);
        assert_ne!(p.node_port, Some(0));
        assert_ne!(p.health_check_node_port, Some(0));
        if let Some(a) = p.session_affinity {
            assert!((1..=86_400).contains(&a.timeout_seconds), "{a:?}");
        }
    }
}

/// Every warning names an object of `kind`.
fn assert_warnings_about(warnings: &[Error], kind: ObjectKind) {
    for w in warnings {
        assert!(
            matches!(w, Error::Invalid { object, .. } if object.kind == kind),
            "{w:?}"
        );
    }
}

proptest! {
    #![proptest_config(arb::config(512))]

    #[test]
    fn services_convert_to_valid_ports(v in objects::service()) {
        let Some(KubeObject::Service(svc)) = arb::typed(&v) else { panic!("a service") };
        let conv = convert::service(&svc);
        assert_valid_ports(&conv.value);
        assert_warnings_about(&conv.warnings, ObjectKind::Service);
    }

    #[test]
    fn slices_convert_to_valid_endpoints(v in objects::endpoint_slice(), local in "node-[ab]") {
        let Some(KubeObject::EndpointSlice(slice)) = arb::typed(&v) else { panic!("a slice") };
        let conv = convert::endpoint_slice(&slice, &local);
        assert_warnings_about(&conv.warnings, ObjectKind::EndpointSlice);
        let Some(info) = conv.value else { return Ok(()) };
        let mut names = BTreeSet::new();
        for (name, eps) in &info.ports {
            prop_assert!(names.insert((&name.port, name.protocol)), "duplicate {}", name);
            prop_assert_eq!(&name.service, &info.service);
            for e in eps {
                prop_assert!(info.family.contains(&e.ip), "{} in a {} slice", e.ip, info.family);
                prop_assert_ne!(e.port, 0);
                prop_assert_eq!(e.is_local, e.node_name.as_deref() == Some(local.as_str()));
            }
        }
    }

    #[test]
    fn nodes_convert_to_at_most_one_ip_per_family(v in objects::node()) {
        let Some(KubeObject::Node(node)) = arb::typed(&v) else { panic!("a node") };
        let conv = convert::node(&node);
        assert_warnings_about(&conv.warnings, ObjectKind::Node);
        if let Some(info) = conv.value {
            let families: BTreeSet<IpFamily> = info.ips.iter().map(IpFamily::of).collect();
            prop_assert_eq!(families.len(), info.ips.len(), "{:?}", info.ips);
        }
    }
}
