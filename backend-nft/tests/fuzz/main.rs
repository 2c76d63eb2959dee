//! The plan checker (`backend_nft::check`) against the golden cases and deliberately broken
//! plans, and property tests of the planner over generated clusters (`plans`).

#[path = "../common/scenarios.rs"]
mod scenarios;

mod check;
mod plans;
