//! A whole training run: set-up or resume, burn-train's learner, and the exported weights.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split};
use burn::train::metric::{LearningRateMetric, LossMetric};
use burn::train::{
    ExecutionStrategy, Interrupter, Learner, MultiDeviceOptim, SupervisedTraining, TrainingStrategy,
};

use super::augment::AugmentConfig;
use super::checkpoint::{
    checkpoint_complete, checkpoint_file, damaged_checkpoint, newest_model_checkpoint,
};
use super::config::{TrainConfig, TrainConfigError};
use super::history::{HISTORY_FILE, History};
use super::loader::{AugmentedDataset, DetectionBatch, DetectionBatcher};
use super::metrics::{ApMetric, ImagesPerSecond, LossPart, LossPartMetric};
use super::policy::EpochEndPolicy;
use super::report::{MessageSink, RunMessage, RunOutput};
use super::schedule::{DetectorSchedule, PlateauFactor};
use super::step::TrainingModel;
use crate::boxes::NmsConfig;
use crate::data::FaceDataset;
use crate::detector::FaceSelector;
use crate::model::Ssd;
use crate::weights::{self, Precision};

/// The run's settings file in its folder.
pub const CONFIG_FILE: &str = "train_config.json";
/// The file a training process holds locked while it trains the run (see [`RunLock`]).
pub const LOCK_FILE: &str = "run.lock";
/// The data folders of a run, saved so that `--resume` needs nothing else.
pub const DATA_FILE: &str = "data.json";
/// Weights of the best epoch by validation AP (f16).
pub const BEST_WEIGHTS: &str = "best.ssdface";
/// Weights of the last finished epoch (f16).
pub const LAST_WEIGHTS: &str = "last.ssdface";

/// Where the data is and where the run lives.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunData {
    /// Training folders (WIDER FACE layout).
    pub train: Vec<PathBuf>,
    /// Validation folder.
    pub val: PathBuf,
    /// Use only the first N images of each split (quick runs, tests).
    pub max_images: Option<usize>,
    /// Weights file the run starts from instead of a random initialisation (its network must
    /// be the config's); the optimiser starts fresh.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    /// Epochs finished, over all sessions.
    pub epochs_done: usize,
    /// Why it stopped before the configured epochs, if it did.
    pub stopped: Option<String>,
    /// The run's history.
    pub history: History,
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run folder already holds a run.
    #[error("{0} already holds a training run: resume it with --resume, or choose another --out")]
    Exists(PathBuf),
    /// The run folder is a file, or a folder with other files, which the run would overwrite
    /// (its plots, its metrics).
    #[error("{0} exists and is not an empty folder: a new run needs a new or empty --out")]
    NotEmpty(PathBuf),
    /// Another process is training this run.
    #[error("{0} is in use by another training process (started on it or resuming it)")]
    InUse(PathBuf),
    /// `--resume` on a folder without a run.
    #[error("{0} holds no training run ({CONFIG_FILE} is missing)")]
    NotARun(PathBuf),
    /// Data could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DatasetError),
    /// A file of the run could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The network of the config cannot be built.
    #[error(transparent)]
    Model(#[from] crate::model::ConfigError),
    /// burn-train reported a failure.
    #[error("training failed: {0}")]
    Training(#[source] Arc<burn::train::TrainingError>),
    /// The settings cannot give a working run.
    #[error("invalid training settings{}: {source}", .file.as_ref().map(|f| format!(" in {}", f.display())).unwrap_or_default())]
    Config {
        /// The settings file they came from, when resuming.
        file: Option<PathBuf>,
        /// What is wrong.
        source: TrainConfigError,
    },
    /// A split has no image to train or validate on.
    #[error("no {split} images in {folders}: the labels list none")]
    NoImages {
        /// `training` or `validation`.
        split: &'static str,
        /// The folders read.
        folders: String,
    },
    /// The time limit is not a positive, finite number of minutes.
    #[error(
        "--max-minutes must be a number of minutes above 0 and at most {MAX_MINUTES} (a year), got {0}"
    )]
    TimeLimit(f64),
    /// The run has no checkpoint of the asked epoch.
    #[error("{run} has no model checkpoint{}", .epoch.map(|e| format!(" of epoch {e}")).unwrap_or_default())]
    NoCheckpoint {
        /// The run folder.
        run: PathBuf,
        /// The epoch asked for, if one was.
        epoch: Option<usize>,
    },
}

/// The longest time limit a run takes, in minutes (a year).
pub const MAX_MINUTES: f64 = 525_600.0;

/// When a run given `max_minutes` must stop: checked before the run touches any file, so that
/// a wrong limit leaves nothing behind.
fn deadline(max_minutes: Option<f64>) -> Result<Option<Instant>, RunError> {
    match max_minutes {
        None => Ok(None),
        Some(m) if m > 0.0 && m <= MAX_MINUTES => {
            Ok(Some(Instant::now() + Duration::from_secs_f64(m * 60.0)))
        }
        Some(m) => Err(RunError::TimeLimit(m)),
    }
}

fn file_error(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> RunError {
    RunError::File {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Start a new run in `run`.
pub fn start(
    run: &Path,
    config: &TrainConfig,
    data: &RunData,
    devices: Vec<Device>,
    max_minutes: Option<f64>,
    output: RunOutput,
) -> Result<RunReport, RunError> {
    let deadline = deadline(max_minutes)?;
    if run.exists() && !run.is_dir() {
        return Err(RunError::NotEmpty(run.to_path_buf()));
    }
    config
        .validate()
        .map_err(|source| RunError::Config { file: None, source })?;
    std::fs::create_dir_all(run).map_err(|e| file_error(run, e))?;
    // Held from before the checks, so that of two trainers started on one folder, one runs.
    let _lock = RunLock::take(run)?;
    if run.join(CONFIG_FILE).exists() {
        return Err(RunError::Exists(run.to_path_buf()));
    }
    let holds_other_files = || -> std::io::Result<bool> {
        for entry in std::fs::read_dir(run)? {
            if entry?.file_name() != LOCK_FILE {
                return Ok(true);
            }
        }
        Ok(false)
    };
    if holds_other_files().map_err(|e| file_error(run, e))? {
        return Err(RunError::NotEmpty(run.to_path_buf()));
    }
    // Data and starting weights are checked before the run's files are written, so that a
    // start that fails leaves the folder as it was, free for the corrected command.
    let prepared = prepare(config, data, 0, &devices, &output.messages)?;
    let config_json = burn::config::config_to_json(config);
    crate::files::atomic_write(&run.join(CONFIG_FILE), config_json.as_bytes())
        .map_err(|e| file_error(&run.join(CONFIG_FILE), e))?;
    let data_json = serde_json::to_string_pretty(data).expect("paths serialise");
    crate::files::atomic_write(&run.join(DATA_FILE), data_json.as_bytes())
        .map_err(|e| file_error(&run.join(DATA_FILE), e))?;
    launch(
        run,
        config,
        prepared,
        History::default(),
        devices,
        deadline,
        output,
    )
}

/// The settings file of the run in `run`, and its settings.
fn run_config(run: &Path) -> Result<(PathBuf, TrainConfig), RunError> {
    let path = run.join(CONFIG_FILE);
    if !path.exists() {
        return Err(RunError::NotARun(run.to_path_buf()));
    }
    let config = TrainConfig::load(&path).map_err(|e| file_error(&path, e))?;
    Ok((path, config))
}

/// Continue the run in `run` from its last complete checkpoint.
pub fn resume(
    run: &Path,
    devices: Vec<Device>,
    max_minutes: Option<f64>,
    output: RunOutput,
) -> Result<RunReport, RunError> {
    let deadline = deadline(max_minutes)?;
    let (config_path, config) = run_config(run)?;
    let _lock = RunLock::take(run)?;
    config.validate().map_err(|source| RunError::Config {
        file: Some(config_path.clone()),
        source,
    })?;
    let data_path = run.join(DATA_FILE);
    let data: RunData = std::fs::read_to_string(&data_path)
        .map_err(|e| file_error(&data_path, e))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| file_error(&data_path, e)))?;
    if !run.join(HISTORY_FILE).exists() && newest_model_checkpoint(run).is_some() {
        // Without it the checkpoints cannot be continued (plateau, early stopping, best AP),
        // and starting over would overwrite them.
        return Err(file_error(
            &run.join(HISTORY_FILE),
            "missing, though the run has checkpoints: restore it, or export a checkpoint \
             (ssdface export) and start a new run from it with --init",
        ));
    }
    let mut history = History::load(run).map_err(|e| file_error(run, e))?;
    remove_stale_temporary_files(run);
    // The checkpoint is written before the history, so the newest epoch in the history whose
    // three checkpoint files all load is the place to continue from; a file cut short by a
    // kill or a full disk falls back to the epoch before it.
    let mut resume_epoch = 0;
    for epoch in history.epochs.iter().rev().map(|e| e.epoch) {
        match damaged_checkpoint(run, epoch) {
            None => {
                resume_epoch = epoch;
                break;
            }
            Some(problem) => (output.messages)(RunMessage::DamagedCheckpoint { epoch, problem }),
        }
    }
    if history
        .epochs
        .last()
        .is_some_and(|e| e.epoch != resume_epoch)
    {
        (output.messages)(RunMessage::FallingBack(resume_epoch));
    }
    history.truncate_to(resume_epoch);
    history.stopped = None;
    let prepared = prepare(&config, &data, resume_epoch, &devices, &output.messages)?;
    launch(run, &config, prepared, history, devices, deadline, output)
}

/// Remove what interrupted atomic writes left behind in the run folder (`*.tmp<pid>`).
/// An exclusive lock on a run's [`LOCK_FILE`] for as long as this value lives, so that two
/// processes never train one run at once. The operating system releases it when the process
/// ends, however it ends, so a killed run leaves no stale lock behind.
struct RunLock {
    /// Kept open, never read: closing it releases the lock.
    _file: std::fs::File,
}

impl RunLock {
    fn take(run: &Path) -> Result<Self, RunError> {
        let path = run.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| file_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(RunError::InUse(run.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(file_error(&path, e)),
        }
    }
}

fn remove_stale_temporary_files(run: &Path) {
    let Ok(entries) = std::fs::read_dir(run) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().contains(".tmp") && entry.path().is_file() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A run from `history` on: open the data, build the model, the loaders and the learner,
/// train, and write the outcome.
/// What training starts from, each part opened and checked: the images of both splits and
/// the network (from its starting weights, if any) on the first device.
struct Prepared {
    train_images: FaceDataset,
    val_images: FaceDataset,
    model: TrainingModel,
    device: Device,
}

/// Opens the data and builds the network for a run that has finished `epochs_done` epochs.
fn prepare(
    config: &TrainConfig,
    data: &RunData,
    epochs_done: usize,
    devices: &[Device],
    say: &MessageSink,
) -> Result<Prepared, RunError> {
    let (train_images, val_images) = open_data(data, say)?;
    let device = devices.first().cloned().unwrap_or_else(Device::flex);
    device.seed(config.seed);
    let model = initial_model(config, data, epochs_done, &device, say)?;
    Ok(Prepared {
        train_images,
        val_images,
        model,
        device,
    })
}

fn launch(
    run: &Path,
    config: &TrainConfig,
    prepared: Prepared,
    history: History,
    devices: Vec<Device>,
    deadline: Option<Instant>,
    output: RunOutput,
) -> Result<RunReport, RunError> {
    let say = output.messages.clone();
    let epochs_done = history.epochs.last().map_or(0, |e| e.epoch);
    let Prepared {
        train_images,
        val_images,
        model,
        device,
    } = prepared;
    let steps_per_epoch = train_images.len().div_ceil(config.batch_size);
    let (train_loader, val_loader) = loaders(config, train_images, val_images, epochs_done);
    let lr_factor = PlateauFactor::new(1.0);
    let schedule = DetectorSchedule::new(
        config.learning_rate,
        config.min_learning_rate,
        config.warmup_epochs * steps_per_epoch,
        config.epochs * steps_per_epoch,
        lr_factor.clone(),
    );
    let optimizer = AdamConfig::new()
        .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)))
        .init();

    let interrupter = Interrupter::new();
    if let Some(deadline) = deadline {
        stop_at(deadline, interrupter.clone());
    }
    let nan_reason = Arc::new(Mutex::new(None));
    let policy = EpochEndPolicy::new(
        run.to_path_buf(),
        history,
        config,
        deadline,
        lr_factor,
        say.clone(),
        interrupter.clone(),
    );
    let selector = FaceSelector::new(NmsConfig::evaluation());
    let mut training = SupervisedTraining::new(run, train_loader, val_loader)
        .metrics((
            LossMetric::new(),
            LossPartMetric::new(LossPart::Location)
                .stopping_on_nan(interrupter.clone(), nan_reason.clone()),
            LossPartMetric::new(LossPart::Confidence),
        ))
        .metric_valid_numeric(ApMetric::new(selector))
        .metric_train_numeric(LearningRateMetric::new())
        .metric_train_numeric(ImagesPerSecond::default())
        .with_default_checkpointers()
        .with_checkpointing_strategy(checkpoint_strategy(selector, config.checkpoints_kept()))
        .early_stopping(policy.clone())
        .with_interrupter(interrupter)
        .renderer(output.progress)
        .num_epochs(config.epochs);
    if devices.len() > 1 {
        training = training.with_training_strategy(TrainingStrategy::Default(
            ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice),
        ));
    }
    if epochs_done > 0 {
        say(RunMessage::Resuming(epochs_done));
        training = training.checkpoint(epochs_done);
    }
    let result = training.launch(Learner::new(model, optimizer, schedule));
    if let Some(error) = result.error.clone() {
        return Err(RunError::Training(error));
    }
    let interrupted = result.interrupted.as_ref().map(|i| {
        i.reason
            .clone()
            .unwrap_or_else(|| "interrupted".to_string())
    });
    let nan = nan_reason.lock().expect("reason lock").clone();
    finish(run, config, policy.history(), [nan, interrupted], &device)
}

/// The training and validation images (each split must have some).
fn open_data(data: &RunData, say: &MessageSink) -> Result<(FaceDataset, FaceDataset), RunError> {
    let train_images = FaceDataset::open(&data.train)?;
    let val_images = FaceDataset::open(std::slice::from_ref(&data.val))?;
    say(RunMessage::TrainingData(train_images.stats()));
    say(RunMessage::ValidationData(val_images.stats()));
    let limit = |d: FaceDataset| match data.max_images {
        Some(n) => d.truncated(n),
        None => d,
    };
    let (train_images, val_images) = (limit(train_images), limit(val_images));
    let folders = |dirs: &[PathBuf]| {
        let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        names.join(", ")
    };
    if train_images.is_empty() {
        return Err(RunError::NoImages {
            split: "training",
            folders: folders(&data.train),
        });
    }
    if val_images.is_empty() {
        return Err(RunError::NoImages {
            split: "validation",
            folders: folders(std::slice::from_ref(&data.val)),
        });
    }
    if let Some(n) = data.max_images {
        say(RunMessage::FirstImages(n));
    }
    Ok((train_images, val_images))
}

/// Batches of augmented training images in a fresh order each epoch (continuing after
/// `epochs_done`), and of plain validation images.
fn loaders(
    config: &TrainConfig,
    train_images: FaceDataset,
    val_images: FaceDataset,
    epochs_done: usize,
) -> (
    Arc<dyn DataLoader<DetectionBatch>>,
    Arc<dyn DataLoader<DetectionBatch>>,
) {
    let dataset = |images, augment, shuffle, epochs_done| {
        AugmentedDataset::new(
            images,
            augment,
            config.model.clone(),
            config.target_rules(),
            config.seed,
            shuffle,
            epochs_done,
        )
    };
    let train_set = dataset(
        train_images,
        config.augment.clone(),
        true,
        epochs_done as u64,
    );
    let val_set = dataset(val_images, AugmentConfig::none(), false, 0);
    // The dataset shuffles itself, per epoch and reproducibly across resumes.
    let batcher = DetectionBatcher::new(&config.model);
    let builder = || {
        let builder = DataLoaderBuilder::new(batcher.clone()).batch_size(config.batch_size);
        if config.workers > 0 {
            builder.num_workers(config.workers)
        } else {
            builder
        }
    };
    (builder().build(train_set), builder().build(val_set))
}

/// The network to train, on the autodiff view of `device` so that steps can take gradients:
/// random, or the `init` weights for a new run (a resumed run loads its checkpoint later).
fn initial_model(
    config: &TrainConfig,
    data: &RunData,
    epochs_done: usize,
    device: &Device,
    say: &MessageSink,
) -> Result<TrainingModel, RunError> {
    let device = device.clone().autodiff();
    let mut model = TrainingModel::new(config, &device)?;
    if let (Some(init), 0) = (&data.init, epochs_done) {
        model.ssd = initial_weights(init, config, &device)?;
        say(RunMessage::StartingFrom(init.clone()));
    }
    Ok(model)
}

/// Stop the run at `deadline` even inside an epoch. The policy stops between epochs when the
/// next one would not fit; this stops an epoch that alone overruns the limit (its partial work
/// is discarded).
fn stop_at(deadline: Instant, interrupter: Interrupter) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        interrupter.stop(Some("time limit reached during an epoch"));
    });
}

/// Keep the last `keep` epochs' checkpoints and the best one by validation AP.
fn checkpoint_strategy(selector: FaceSelector, keep: usize) -> ComposedCheckpointingStrategy {
    ComposedCheckpointingStrategy::builder()
        .add(KeepLastNCheckpoints::new(keep))
        .add(MetricCheckpointingStrategy::new(
            &ApMetric::new(selector),
            Aggregate::Mean,
            Direction::Highest,
            Split::Valid,
        ))
        .build()
}

/// Record why the run stopped early, save the history and write the weights files. The reason
/// is a NaN loss first, else the policy's (early stopping, time limit between epochs), else the
/// interruption's (time limit inside an epoch).
fn finish(
    run: &Path,
    config: &TrainConfig,
    mut history: History,
    [nan, interrupted]: [Option<String>; 2],
    device: &Device,
) -> Result<RunReport, RunError> {
    let stopped = nan.or_else(|| history.stopped.clone()).or(interrupted);
    history.stopped = stopped.clone();
    history.save(run).map_err(|e| file_error(run, e))?;
    export_weights(run, config, &history, device)?;
    Ok(RunReport {
        epochs_done: history.epochs.last().map_or(0, |e| e.epoch),
        stopped,
        history,
    })
}

/// The network of the weights file `path`, which must fit `config`'s.
fn initial_weights(path: &Path, config: &TrainConfig, device: &Device) -> Result<Ssd, RunError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
    weights::from_bytes_for(&bytes, &config.model, device).map_err(|e| file_error(path, e))
}

/// Write `best.ssdface` (best validation AP) and `last.ssdface` from the checkpoints.
fn export_weights(
    run: &Path,
    config: &TrainConfig,
    history: &History,
    device: &Device,
) -> Result<(), RunError> {
    let Some(last) = history.epochs.last().map(|e| e.epoch) else {
        return Ok(());
    };
    // burn-train keeps the best epoch's checkpoint by the same rule (first highest AP).
    let best = history
        .best_ap_epoch
        .filter(|&e| checkpoint_complete(run, e))
        .unwrap_or(last);
    for (epoch, name) in [(last, LAST_WEIGHTS), (best, BEST_WEIGHTS)] {
        let ssd = load_checkpoint(run, config, epoch, device)?;
        let path = run.join(name);
        weights::save_file(&ssd, &config.model, Precision::Half, &path)
            .map_err(|e| file_error(&path, e))?;
    }
    Ok(())
}

/// Write the network of a run's checkpoint to `out` as a weights file: epoch `epoch`, or the
/// newest checkpoint when `None`. Reads only finished checkpoints, so it works while the run
/// is still training. Returns the epoch written.
pub fn export_checkpoint(
    run: &Path,
    epoch: Option<usize>,
    out: &Path,
    precision: Precision,
) -> Result<usize, RunError> {
    let (_, config) = run_config(run)?;
    let no_checkpoint = || RunError::NoCheckpoint {
        run: run.to_path_buf(),
        epoch,
    };
    let epoch = match epoch {
        Some(e) => Some(e).filter(|&e| checkpoint_file(run, "model", e).is_file()),
        None => newest_model_checkpoint(run),
    }
    .ok_or_else(no_checkpoint)?;
    let device = Device::flex();
    let ssd = load_checkpoint(run, &config, epoch, &device)?;
    weights::save_file(&ssd, &config.model, precision, out).map_err(|e| file_error(out, e))?;
    Ok(epoch)
}

/// The network of a run's checkpoint.
pub fn load_checkpoint(
    run: &Path,
    config: &TrainConfig,
    epoch: usize,
    device: &Device,
) -> Result<Ssd, RunError> {
    let path = checkpoint_file(run, "model", epoch);
    let record = ModuleRecord::load(&path).map_err(|e| file_error(&path, e))?;
    let model = TrainingModel::new(config, device)?
        .try_load_record(record)
        .map_err(|e| file_error(&path, e))?;
    Ok(model.ssd)
}
