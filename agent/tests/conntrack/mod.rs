//! Conntrack cleanup: the planner and matcher, the Cleaner over a fake table, and the
//! ctnetlink table in throwaway namespaces with real traffic.

mod binary;
mod cleaner;
mod fixture;
mod kernel;
mod plan;
