//! The nftables datapath (filled in by the backend-nft issue).
