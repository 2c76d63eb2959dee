//! The plan checker (`backend_iptables::check`) against the golden cases and deliberately
//! broken plans, and property tests of the planner over generated clusters (`plans`).

mod check;
mod plans;
