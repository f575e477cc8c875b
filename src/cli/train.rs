//! `ssdface train`: train from scratch or resume a run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use burn::config::Config;
use ssdface::train::{self, AugmentConfig, BEST_WEIGHTS, RunData, RunOutput, TrainConfig};
use ssdface::weights;

use super::backend::{BackendArgs, devices};
use super::model_source::load_network_config;
use super::progress::ProgressRenderer;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Continue the run in this folder from its last checkpoint. All settings come from the
    /// run, so no other setting may be given with it (only --max-minutes, --backend and
    /// --devices); to train on with other settings, start a new run with --init from its
    /// weights.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    settings: RunSettings,
    /// Stop cleanly, with a checkpoint, before an epoch would end after this many minutes
    /// (above 0, at most a year).
    #[arg(long, value_name = "N")]
    max_minutes: Option<f64>,
    #[command(flatten)]
    backend: BackendArgs,
    /// Devices to train on, data-parallel (GPUs; on the CPU, handles to the same cores).
    #[arg(long, default_value_t = 1, value_name = "N")]
    devices: usize,
}

/// What defines a new run: its data and the settings of its `TrainConfig`, each defaulting to
/// the config's own default (which `--help` shows). `--resume` refuses every one of them (a
/// test checks that none is left out).
#[derive(clap::Args, Debug)]
struct RunSettings {
    /// Training folder in WIDER FACE layout (labels.txt + images/); repeat to combine several.
    #[arg(
        long = "data",
        value_name = "DIR",
        required_unless_present = "resume",
        conflicts_with = "resume"
    )]
    data: Vec<PathBuf>,
    /// Validation folder in WIDER FACE layout.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "resume",
        conflicts_with = "resume"
    )]
    val: Option<PathBuf>,
    /// Run folder for checkpoints, logs, plots and the trained weights.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "resume",
        conflicts_with = "resume"
    )]
    out: Option<PathBuf>,
    /// Start from this weights file (e.g. the bundled model) with a fresh optimiser, instead
    /// of a random initialisation; the network is the file's own.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// The network to train from a random initialisation, a JSON file with the fields of
    /// `SsdConfig` (as `ssdface info` prints under "config"; default: `SsdConfig`'s defaults).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "init",
        conflicts_with = "resume"
    )]
    model: Option<PathBuf>,
    /// Network input size, WIDTHxHEIGHT (multiples of 8; default: the network's own).
    #[arg(long, value_name = "WxH", value_parser = ssdface::model::parse_size, conflicts_with = "resume")]
    input_size: Option<(usize, usize)>,
    /// Give the N finest detection levels a top-down path (each adds the next coarser level's
    /// features); with --init, paths the file lacks start at zero.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    top_down_levels: Option<usize>,
    /// Pass the N finest detection levels through a context block (an inverted residual)
    /// before their heads; with --init, blocks the file lacks start at zero.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    context_levels: Option<usize>,
    /// Most epochs.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::new().epochs, conflicts_with = "resume")]
    epochs: usize,
    /// Images per step.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::new().batch_size, conflicts_with = "resume")]
    batch_size: usize,
    /// Peak learning rate.
    #[arg(long, value_name = "LR", default_value_t = TrainConfig::new().learning_rate, conflicts_with = "resume")]
    lr: f64,
    /// L2 penalty on every parameter, added to its gradient before Adam.
    #[arg(long, value_name = "D", default_value_t = TrainConfig::new().weight_decay, conflicts_with = "resume")]
    weight_decay: f64,
    /// IoU at which a prior is matched to a face.
    #[arg(long, value_name = "T", default_value_t = TrainConfig::new().match_iou, conflicts_with = "resume")]
    match_iou: f32,
    /// IoU with a face below which a prior is background; priors from here to --match-iou are
    /// ignored (default: --match-iou, no ignored band).
    #[arg(long, value_name = "T", conflicts_with = "resume")]
    background_iou: Option<f32>,
    /// Weight of the box regression loss against the classification loss.
    #[arg(long, value_name = "W", default_value_t = TrainConfig::new().box_loss_weight(), conflicts_with = "resume")]
    location_weight: f32,
    /// Weight of a generalised-IoU term (1 - GIoU of each face prior's box with its face)
    /// added to the smooth-L1 box regression (0: smooth-L1 only).
    #[arg(long, value_name = "W", default_value_t = TrainConfig::new().giou_loss_weight(), conflicts_with = "resume")]
    giou_weight: f32,
    /// Faces under this many input pixels on their longer side (after augmentation) are
    /// ignored in training.
    #[arg(long, value_name = "PX", default_value_t = TrainConfig::new().min_face_size, conflicts_with = "resume")]
    min_face_size: f32,
    /// Background priors mined per face prior by hard-negative mining.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::new().negatives_per_positive, conflicts_with = "resume")]
    negatives_per_positive: usize,
    /// Image decoding and augmentation threads.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::new().workers, conflicts_with = "resume")]
    workers: usize,
    /// Keep the checkpoints of the newest N epochs (at least 2; the best epoch's is kept
    /// too), e.g. to export several epochs and average them.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::new().checkpoints_kept(), conflicts_with = "resume")]
    keep_checkpoints: usize,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long, value_name = "N", default_value_t = TrainConfig::new().seed, conflicts_with = "resume")]
    seed: u64,
    /// Train without augmentation (only the resize to the input size).
    #[arg(long, conflicts_with = "augment", conflicts_with = "resume")]
    no_augment: bool,
    /// Augmentation settings from a JSON file: an object with every field of `AugmentConfig`,
    /// as under "augment" in a run's train_config.json.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    augment: Option<PathBuf>,
    /// Use only the first N images of each folder (quick trials).
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    max_images: Option<usize>,
}

impl TrainArgs {
    /// Whether the run trains on LibTorch.
    #[cfg(all(feature = "libtorch", unix))]
    pub fn on_libtorch(&self) -> bool {
        self.backend.backend == super::backend::Backend::Libtorch
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let devices = devices(args.backend.backend, args.devices)?;
    let output = || RunOutput {
        progress: Box::new(ProgressRenderer::default()),
        messages: Arc::new(|message| eprintln!("{message}")),
    };
    let report = match &args.resume {
        Some(run) => train::resume(run, devices, args.max_minutes, output())?,
        None => {
            let settings = &args.settings;
            let config = config_from(settings)?;
            let data = RunData {
                train: settings.data.clone(),
                val: settings.val.clone().context("--val is required")?,
                max_images: settings.max_images,
                init: settings.init.clone(),
            };
            let out = settings.out.clone().context("--out is required")?;
            train::start(&out, &config, &data, devices, args.max_minutes, output())?
        }
    };
    let run = args
        .resume
        .or(args.settings.out)
        .expect("clap requires one");
    if let Some(best) = report
        .history
        .best_ap_epoch
        .and_then(|e| report.history.epochs.iter().find(|r| r.epoch == e))
    {
        eprintln!(
            "best validation AP {:.4} at epoch {}: {}",
            best.val_ap,
            best.epoch,
            run.join(BEST_WEIGHTS).display()
        );
    }
    match report.stopped {
        Some(reason) => eprintln!("stopped after epoch {}: {reason}", report.epochs_done),
        None => eprintln!("finished {} epochs", report.epochs_done),
    }
    Ok(ExitCode::SUCCESS)
}

fn config_from(settings: &RunSettings) -> anyhow::Result<TrainConfig> {
    let mut model = TrainConfig::new().model;
    if let Some(init) = &settings.init {
        let bytes =
            std::fs::read(init).with_context(|| format!("cannot read {}", init.display()))?;
        model = weights::read_config(&bytes)
            .with_context(|| format!("{}: not a weights file", init.display()))?;
    }
    if let Some(path) = &settings.model {
        model = load_network_config(path)?;
    }
    if let Some((w, h)) = settings.input_size {
        model = model.at_input_size(w, h)?;
    }
    model.top_down_levels = settings.top_down_levels.or(model.top_down_levels);
    model.context_levels = settings.context_levels.or(model.context_levels);
    let augment = match &settings.augment {
        _ if settings.no_augment => AugmentConfig::none(),
        Some(path) => AugmentConfig::load(path)
            .map_err(|e| anyhow::anyhow!("{}: not augmentation settings: {e}", path.display()))?,
        None => AugmentConfig::new(),
    };
    let config = TrainConfig::new()
        .with_model(model)
        .with_augment(augment)
        .with_epochs(settings.epochs)
        .with_batch_size(settings.batch_size)
        .with_learning_rate(settings.lr)
        .with_weight_decay(settings.weight_decay)
        .with_match_iou(settings.match_iou)
        .with_background_iou(settings.background_iou)
        .with_location_weight(Some(settings.location_weight))
        .with_giou_weight(Some(settings.giou_weight))
        .with_min_face_size(settings.min_face_size)
        .with_negatives_per_positive(settings.negatives_per_positive)
        .with_workers(settings.workers)
        .with_keep_checkpoints(Some(settings.keep_checkpoints))
        .with_seed(settings.seed);
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use clap::{Args, Command};

    use super::*;

    #[test]
    fn resume_refuses_every_setting_of_a_new_run() {
        let mut train = TrainArgs::augment_args(Command::new("train"));
        train.build();
        let settings = RunSettings::augment_args(Command::new("settings"));
        let ids: Vec<_> = settings
            .get_arguments()
            .map(|a| a.get_id().clone())
            .collect();
        assert!(ids.len() >= 20, "{ids:?}");
        for id in ids {
            let arg = train.get_arguments().find(|a| *a.get_id() == id).unwrap();
            let refused = train
                .get_arg_conflicts_with(arg)
                .iter()
                .any(|other| other.get_id() == "resume");
            assert!(refused, "--resume does not refuse {id}");
        }
    }
}
