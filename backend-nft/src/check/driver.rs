//! Drives the planner through syncs as the datapath does (plan over the shadow, apply, commit),
//! with an in-memory kernel, and checks the ruleset after each one.

use proxy_core::{Delta, ProxyState, SyncMode};

use crate::ir::Ruleset;
use crate::plan::{self, Config, Shadow};

/// A planner, its shadow and the in-memory kernel its transactions are applied to.
#[derive(Debug, Default)]
pub struct Driver {
    /// The configuration planned with.
    pub config: Config,
    /// What the planner believes is programmed.
    pub shadow: Shadow,
    /// What is programmed.
    pub kernel: Ruleset,
}

impl Driver {
    /// A driver over an empty kernel.
    pub fn new(config: Config) -> Self {
        Driver {
            config,
            ..Driver::default()
        }
    }

    /// Plans a sync of `state` (`delta` since the last one) in `mode`, applies it and commits
    /// the shadow; then the kernel must be valid ([`super::check`]) and hold what a full sync
    /// of `state` builds ([`super::normalized`]).
    pub fn sync(
        &mut self,
        state: &ProxyState,
        delta: &Delta,
        mode: SyncMode,
    ) -> Result<(), String> {
        let p = plan::plan(state, delta, &self.shadow, mode, &self.config);
        self.kernel
            .apply(&p.transaction)
            .map_err(|e| format!("the kernel refuses the {:?} plan: {e}", p.mode))?;
        self.shadow.commit(p.update);
        let problems = super::check(&self.kernel, state, &self.config);
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        let fresh = Ruleset::from_transaction(&plan::full_transaction(state, &self.config))
            .map_err(|e| format!("the kernel refuses a full plan: {e}"))?;
        let (got, want) = (super::normalized(&self.kernel), super::normalized(&fresh));
        if got != want {
            return Err(format!(
                "{:?} syncs diverged from a full sync:\n{}",
                p.mode,
                testkit::golden::diff(&want, &got)
            ));
        }
        Ok(())
    }
}
