//! The `[slurm]` table of a sweep config: resources of each SLURM array task, read by the sweep
//! config (`sweep/mod.rs`) and used by the array script (`slurm.rs`), so the sweep reads top-down
//! without importing the scheduler's code.

use serde::{Deserialize, Serialize};

/// Resources of each array task: the `[slurm]` table of a sweep config, overridden by flags.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// GPUs per task (`--gres=gpu:N`); 0 or unset: none.
    pub gpus_per_job: Option<u32>,
    pub cpus_per_task: Option<u32>,
    /// Wall time per task, `HH:MM:SS`.
    pub time: Option<String>,
    /// Memory per task, `64G`.
    pub mem: Option<String>,
}

impl SlurmSettings {
    /// `self` with every field `over` sets replaced.
    pub fn merged(&self, over: &SlurmSettings) -> SlurmSettings {
        SlurmSettings {
            partition: over.partition.clone().or(self.partition.clone()),
            account: over.account.clone().or(self.account.clone()),
            gpus_per_job: over.gpus_per_job.or(self.gpus_per_job),
            cpus_per_task: over.cpus_per_task.or(self.cpus_per_task),
            time: over.time.clone().or(self.time.clone()),
            mem: over.mem.clone().or(self.mem.clone()),
        }
    }

    pub(crate) fn directives(&self) -> Vec<String> {
        let mut d = Vec::new();
        let mut put =
            |k: &str, v: Option<String>| d.extend(v.map(|v| format!("#SBATCH --{k}={v}")));
        put("partition", self.partition.clone());
        put("account", self.account.clone());
        put(
            "gres",
            self.gpus_per_job
                .filter(|g| *g > 0)
                .map(|g| format!("gpu:{g}")),
        );
        put("cpus-per-task", self.cpus_per_task.map(|c| c.to_string()));
        put("time", self.time.clone());
        put("mem", self.mem.clone());
        d
    }
}
