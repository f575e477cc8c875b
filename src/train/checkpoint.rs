//! A run's checkpoint files (`checkpoint/{model,optim,scheduler}-N.bpk`, written by
//! burn-train) and whether an epoch's set is whole.

use std::path::{Path, PathBuf};

use burn::lr_scheduler::LrSchedulerRecord;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;

/// The checkpoint file of `kind` (`model`, `optim` or `scheduler`) for `epoch`.
pub(crate) fn checkpoint_file(run: &Path, kind: &str, epoch: usize) -> PathBuf {
    run.join("checkpoint").join(format!("{kind}-{epoch}.bpk"))
}

/// Whether epoch `epoch`'s three checkpoint files are all whole.
pub(crate) fn checkpoint_complete(run: &Path, epoch: usize) -> bool {
    damaged_checkpoint(run, epoch).is_none()
}

/// What is wrong with epoch `epoch`'s three checkpoint files, if anything: each must exist and
/// load as a whole burnpack record (loading checks the file holds every byte its header lists).
pub(crate) fn damaged_checkpoint(run: &Path, epoch: usize) -> Option<String> {
    let problem = |kind: &str, e: &dyn std::fmt::Display| Some(format!("{kind}: {e}"));
    let model = checkpoint_file(run, "model", epoch);
    if let Err(e) = ModuleRecord::load(&model) {
        return problem("model", &e);
    }
    if let Err(e) = OptimizerRecord::load(checkpoint_file(run, "optim", epoch)) {
        return problem("optimiser", &e);
    }
    if let Err(e) = LrSchedulerRecord::load(checkpoint_file(run, "scheduler", epoch)) {
        return problem("scheduler", &e);
    }
    None
}

/// The highest epoch with a model checkpoint in `run`.
pub(crate) fn newest_model_checkpoint(run: &Path) -> Option<usize> {
    std::fs::read_dir(run.join("checkpoint"))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let epoch = name
                .to_str()?
                .strip_prefix("model-")?
                .strip_suffix(".bpk")?;
            epoch.parse().ok()
        })
        .max()
}
