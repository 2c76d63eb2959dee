//! Node and endpoint policy shared by the backends: the node's configuration seen one IP
//! family at a time, and what each service port does in a family.
//!
//! - [`NodeConfig`] holds the node-level settings the rules depend on (node IPs, pod and
//!   service CIDRs, [`NodePortAddresses`], masquerade-all); [`NodeConfig::family`] narrows it
//!   to a [`FamilyView`] with the CIDRs of that family aggregated and the node-port addresses
//!   resolved to [`NodePorts`].
//! - [`PortPolicy`] is computed once per service port and family from the endpoints: the
//!   [`categorize`](crate::topology::categorize)d sets, the endpoints cluster-IP traffic uses,
//!   whether internal and external traffic have usable endpoints, what a frontend without any
//!   does ([`NoEndpoints`]), and the ClientIP affinity timeout.
//!
//! A backend only turns these decisions into its own rules.

mod addresses;
mod node;
mod port;

pub use addresses::{NodePortAddresses, NodePortAddressesError, parse_cidr};
pub use node::{FamilyView, LocalDetection, NodeConfig, NodePorts};
pub use port::{NoEndpoints, PortPolicy};
