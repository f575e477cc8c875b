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
    /// Training folder in WIDER FACE layout (labels.txt + images/); repeat to combine several.
    #[arg(long = "data", value_name = "DIR", required_unless_present = "resume")]
    data: Vec<PathBuf>,
    /// Validation folder in WIDER FACE layout.
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    val: Option<PathBuf>,
    /// Run folder for checkpoints, logs, plots and the trained weights.
    #[arg(long, value_name = "DIR", required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its last checkpoint. All settings come from the
    /// run, so no other setting may be given with it (only --max-minutes, --backend and
    /// --devices); to train on with other settings, start a new run with --init from its
    /// weights.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "data", "val", "out", "init", "model", "epochs", "batch_size", "lr",
            "weight_decay", "input_size", "top_down_levels", "context_levels", "match_iou",
            "background_iou", "location_weight", "giou_weight", "min_face_size",
            "negatives_per_positive", "workers", "keep_checkpoints", "seed", "no_augment",
            "augment", "max_images",
        ]
    )]
    resume: Option<PathBuf>,
    /// Start from this weights file (e.g. the bundled model) with a fresh optimiser, instead
    /// of a random initialisation; the network is the file's own.
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// The network to train from a random initialisation, a JSON file with the fields of
    /// `SsdConfig` (as `ssdface info` prints under "config"; default: `SsdConfig`'s defaults).
    #[arg(long, value_name = "FILE", conflicts_with = "init")]
    model: Option<PathBuf>,
    /// Stop cleanly, with a checkpoint, before an epoch would end after this many minutes
    /// (above 0, at most a year).
    #[arg(long, value_name = "N")]
    max_minutes: Option<f64>,
    #[command(flatten)]
    backend: BackendArgs,
    /// Devices to train on, data-parallel (GPUs; on the CPU, handles to the same cores).
    #[arg(long, default_value_t = 1, value_name = "N")]
    devices: usize,
    /// Most epochs.
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Images per step.
    #[arg(long, value_name = "N")]
    batch_size: Option<usize>,
    /// Peak learning rate.
    #[arg(long, value_name = "LR")]
    lr: Option<f64>,
    /// L2 penalty on every parameter, added to its gradient before Adam (default 5e-4).
    #[arg(long, value_name = "D")]
    weight_decay: Option<f64>,
    /// Network input size, WIDTHxHEIGHT (multiples of 8).
    #[arg(long, value_name = "WxH", value_parser = ssdface::model::parse_size)]
    input_size: Option<(usize, usize)>,
    /// Give the N finest detection levels a top-down path (each adds the next coarser level's
    /// features); with --init, paths the file lacks start at zero.
    #[arg(long, value_name = "N")]
    top_down_levels: Option<usize>,
    /// Pass the N finest detection levels through a context block (an inverted residual)
    /// before their heads; with --init, blocks the file lacks start at zero.
    #[arg(long, value_name = "N")]
    context_levels: Option<usize>,
    /// IoU at which a prior is matched to a face (default 0.35).
    #[arg(long, value_name = "T")]
    match_iou: Option<f32>,
    /// IoU with a face below which a prior is background; priors from here to --match-iou are
    /// ignored (default: --match-iou, no ignored band).
    #[arg(long, value_name = "T")]
    background_iou: Option<f32>,
    /// Weight of the box regression loss against the classification loss (default 1).
    #[arg(long, value_name = "W")]
    location_weight: Option<f32>,
    /// Weight of a generalised-IoU term (1 - GIoU of each face prior's box with its face)
    /// added to the smooth-L1 box regression (default 0: smooth-L1 only).
    #[arg(long, value_name = "W")]
    giou_weight: Option<f32>,
    /// Faces under this many input pixels on their longer side (after augmentation) are
    /// ignored in training (default 6).
    #[arg(long, value_name = "PX")]
    min_face_size: Option<f32>,
    /// Background priors mined per face prior by hard-negative mining (default 3).
    #[arg(long, value_name = "N")]
    negatives_per_positive: Option<usize>,
    /// Image decoding and augmentation threads.
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Keep the checkpoints of the newest N epochs (default 2, at least 2; the best epoch's
    /// is kept too), e.g. to export several epochs and average them.
    #[arg(long, value_name = "N")]
    keep_checkpoints: Option<usize>,
    /// Seed of initialisation, shuffling and augmentation.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Train without augmentation (only the resize to the input size).
    #[arg(long, conflicts_with = "augment")]
    no_augment: bool,
    /// Augmentation settings from a JSON file: an object with every field of `AugmentConfig`,
    /// as under "augment" in a run's train_config.json.
    #[arg(long, value_name = "FILE")]
    augment: Option<PathBuf>,
    /// Use only the first N images of each folder (quick trials).
    #[arg(long, value_name = "N")]
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
            let config = config_from(&args)?;
            let data = RunData {
                train: args.data.clone(),
                val: args.val.clone().context("--val is required")?,
                max_images: args.max_images,
                init: args.init.clone(),
            };
            let out = args.out.clone().context("--out is required")?;
            train::start(&out, &config, &data, devices, args.max_minutes, output())?
        }
    };
    let run = args.resume.or(args.out).expect("clap requires one");
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

fn config_from(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let mut config = TrainConfig::new();
    if let Some(init) = &args.init {
        let bytes =
            std::fs::read(init).with_context(|| format!("cannot read {}", init.display()))?;
        config.model = weights::read_config(&bytes)
            .with_context(|| format!("{}: not a weights file", init.display()))?;
    }
    if let Some(path) = &args.model {
        config.model = load_network_config(path)?;
    }
    if let Some((w, h)) = args.input_size {
        config.model = config.model.at_input_size(w, h)?;
    }
    if let Some(levels) = args.top_down_levels {
        config.model.top_down_levels = Some(levels);
    }
    if let Some(levels) = args.context_levels {
        config.model.context_levels = Some(levels);
    }
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(batch) = args.batch_size {
        config.batch_size = batch;
    }
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    if let Some(decay) = args.weight_decay {
        config.weight_decay = decay;
    }
    if let Some(iou) = args.match_iou {
        config.match_iou = iou;
    }
    config.background_iou = args.background_iou;
    config.location_weight = args.location_weight;
    config.giou_weight = args.giou_weight;
    if let Some(size) = args.min_face_size {
        config.min_face_size = size;
    }
    if let Some(ratio) = args.negatives_per_positive {
        config.negatives_per_positive = ratio;
    }
    config.keep_checkpoints = args.keep_checkpoints;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if args.no_augment {
        config.augment = AugmentConfig::none();
    }
    if let Some(path) = &args.augment {
        config.augment = AugmentConfig::load(path)
            .map_err(|e| anyhow::anyhow!("{}: not augmentation settings: {e}", path.display()))?;
    }
    config.validate()?;
    Ok(config)
}
