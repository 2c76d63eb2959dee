//! The sync runner: drives a `Datapath` from the change trackers at a bounded frequency.
