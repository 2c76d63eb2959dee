//! `v1/Node` -> node info.

use k8s_openapi::api::core::v1::Node;

use super::Conversion;
use crate::model::NodeInfo;

/// Converts a Node: its name, its InternalIP addresses (then ExternalIP) and its labels.
pub fn node(node: &Node) -> Conversion<Option<NodeInfo>> {
    let _ = node;
    todo!("node conversion")
}
