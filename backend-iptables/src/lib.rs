//! The iptables datapath (filled in by the backend-iptables issue).
