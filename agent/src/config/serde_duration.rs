//! Durations in config files as the flags spell them (`500ms`, `1s`, `2m`), for serde's
//! `with` attribute.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

use crate::duration::{format_duration, parse_duration};

/// Writes `duration` as text.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

/// Reads a duration from text.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

/// The runner's timing as `{minSyncPeriod, syncPeriod}` (the retry backoff keeps its
/// defaults: no flag sets it).
pub mod timing {
    use std::time::Duration;

    use proxy_core::runner::RunnerConfig;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// The fields as written.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Timing {
        #[serde(with = "super")]
        min_sync_period: Duration,
        #[serde(with = "super")]
        sync_period: Duration,
    }

    /// Writes the timing.
    pub fn serialize<S: Serializer>(
        config: &RunnerConfig,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Timing {
            min_sync_period: config.min_sync_period,
            sync_period: config.sync_period,
        }
        .serialize(serializer)
    }

    /// Reads the timing.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<RunnerConfig, D::Error> {
        let timing = Timing::deserialize(deserializer)?;
        Ok(RunnerConfig {
            min_sync_period: timing.min_sync_period,
            sync_period: timing.sync_period,
            ..RunnerConfig::default()
        })
    }
}
