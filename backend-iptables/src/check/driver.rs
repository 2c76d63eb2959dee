//! Drives the planner through syncs as the datapath does (plan over the shadow, restore every
//! document, keep the next shadow), with the restore model, and checks the rules after each one.

use proxy_core::{Delta, ProxyState, SyncMode};

use super::Tables;
use crate::plan::{self, Config, Shadow};

/// A planner, its shadow and the model its plans are restored into.
#[derive(Debug, Default)]
pub struct Driver {
    /// The configuration planned with.
    pub config: Config,
    /// What the planner believes is programmed.
    pub shadow: Shadow,
    /// What is programmed.
    pub tables: Tables,
}

impl Driver {
    /// A driver over empty tables.
    pub fn new(config: Config) -> Self {
        Driver {
            config,
            ..Driver::default()
        }
    }

    /// Plans a sync of `state` (`delta` since the last one) in `mode`, restores it and keeps
    /// the next shadow; then the rules must be valid ([`super::check`]) and equal what a full
    /// sync of `state` builds.
    pub fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> Result<(), String> {
        let p = plan::plan(state, delta, &self.shadow, mode, &self.config);
        self.tables
            .apply(&p)
            .map_err(|e| format!("the restore model refuses the {:?} plan: {e}", p.mode))?;
        self.shadow = p.next;
        let problems = super::check(&self.tables, state, &self.config);
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        let mut fresh = Tables::default();
        fresh
            .apply(&plan::full_plan(state, &self.config))
            .map_err(|e| format!("the restore model refuses a full plan: {e}"))?;
        if fresh != self.tables {
            return Err(format!(
                "{:?} syncs diverged from a full sync:\n{}",
                p.mode,
                testkit::golden::diff(&format!("{fresh:#?}"), &format!("{:#?}", self.tables))
            ));
        }
        Ok(())
    }
}
