//! A [`Cluster`] as the Kubernetes objects an API server holds: one Service and one
//! EndpointSlice per service, and the Node, as JSON with `apiVersion` and `kind` (what
//! `testkit::fake_api::FakeApi::apply_json` takes).
//!
//! Service `i` is `bench-{i / 1000}/svc-{i}` (as [`Cluster::name`]), its slice `svc-{i}-bench`
//! with every endpoint ready on another node (`node-b`), so none is local to [`NODE_NAME`].

use serde_json::{Value, json};

use crate::cluster::{Cluster, NODE_IP, NODE_NAME, PORT_NAME, SERVICE_PORT, TARGET_PORT};

/// The node every endpoint runs on (not the node under test).
pub const ENDPOINT_NODE: &str = "node-b";

/// Service `i` as a `v1` Service.
pub fn service(cluster: &Cluster, i: u32) -> Value {
    let name = cluster.name(i);
    let ip = cluster.cluster_ip(i).to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"namespace": name.service.namespace, "name": name.service.name},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "protocol": "TCP",
                       "targetPort": TARGET_PORT}],
        },
    })
}

/// The EndpointSlice of service `i`, with its first endpoint moved to
/// [`Cluster::alternate_endpoint`] if `alternate`.
pub fn endpoint_slice(cluster: &Cluster, i: u32, alternate: bool) -> Value {
    let name = cluster.name(i);
    let mut ips: Vec<String> = cluster
        .endpoints_of(i)
        .iter()
        .map(|e| e.ip.to_string())
        .collect();
    if alternate && let Some(first) = ips.first_mut() {
        *first = cluster.alternate_endpoint(i).ip.to_string();
    }
    let endpoints: Vec<Value> = ips
        .iter()
        .map(|ip| {
            json!({"addresses": [ip], "conditions": {"ready": true, "serving": true},
                   "nodeName": ENDPOINT_NODE})
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": name.service.namespace,
            "name": format!("{}-bench", name.service.name),
            "labels": {"kubernetes.io/service-name": name.service.name},
        },
        "addressType": "IPv4",
        "ports": [{"name": PORT_NAME, "port": TARGET_PORT, "protocol": "TCP"}],
        "endpoints": endpoints,
    })
}

/// The node under test, with its InternalIP.
pub fn node() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE_NAME},
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP.to_string()}]},
    })
}

#[cfg(test)]
mod tests {
    use proxy_core::{KubeObject, manifest};

    use super::*;

    /// The objects parse into the cluster's own service and endpoints.
    #[test]
    fn objects_describe_the_cluster() {
        let c = Cluster::new(3, 5);
        let docs = [service(&c, 1), endpoint_slice(&c, 1, false), node()];
        let text = serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List",
                                                   "items": docs}))
        .expect("json");
        let (objects, errors) = manifest::parse(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(objects.len(), 3);
        let mut tracker = proxy_core::tracker::ChangeTracker::new(c.node());
        assert!(tracker.reset_owned(objects).is_empty());
        tracker.take_delta();
        let state = tracker.state();
        let svc = state.services.get(&c.name(1)).expect("service 1");
        assert_eq!(
            (&svc.cluster_ips, svc.port),
            (&c.service(1).cluster_ips, SERVICE_PORT)
        );
        let addrs = |eps: &[proxy_core::model::Endpoint]| -> Vec<(std::net::IpAddr, u16)> {
            eps.iter().map(|e| (e.ip, e.port)).collect()
        };
        assert_eq!(
            addrs(state.endpoints_of(&c.name(1))),
            addrs(&c.endpoints_of(1))
        );
        assert!(matches!(
            manifest::parse(&endpoint_slice(&c, 1, true).to_string()).0[..],
            [KubeObject::EndpointSlice(_)]
        ));
    }

    #[test]
    fn the_alternate_replaces_the_first_endpoint() {
        let c = Cluster::new(3, 5);
        let slice = endpoint_slice(&c, 2, true);
        let first = &slice["endpoints"][0]["addresses"][0];
        assert_eq!(first, &json!(c.alternate_endpoint(2).ip.to_string()));
        assert_eq!(slice["endpoints"].as_array().map(Vec::len), Some(5));
    }
}
