//! `ssdface eval`: WIDER FACE-style AP of a model, or of any detector's submission files, on a
//! labelled folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use ssdface::boxes::NmsConfig;
use ssdface::data::FaceDataset;
use ssdface::detector::Detector;
use ssdface::eval::{
    EvalReport, ImageEval, draw_pr_curve, evaluate, ground_truth, read_submission, score,
    write_submission,
};

use super::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Labelled folder in WIDER FACE layout (labels.txt + images/).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Score another detector's boxes instead of running the model: a folder of WIDER FACE
    /// submission files (`<image path>.txt`: name, box count, `x y w h score` lines).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["weights", "input_size", "score_threshold"])]
    predictions: Option<PathBuf>,
    /// Folder for the predictions (WIDER submission format), the PR curve and the report.
    #[arg(long, value_name = "DIR", default_value = "eval")]
    out: PathBuf,
    /// IoU a prediction needs with a face to count as found.
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    iou: f32,
    /// Score threshold of the decoder (low, so the curve reaches every recall).
    #[arg(long, default_value_t = 0.01, value_name = "T")]
    score_threshold: f32,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let dataset = FaceDataset::open(std::slice::from_ref(&args.data))?;
    let (report, label) = match &args.predictions {
        Some(dir) => (score_submission(&args, &dataset, dir)?, file_name(dir)),
        None => {
            let label = args
                .model
                .weights
                .as_deref()
                .map_or("ssdface".into(), file_name);
            (run_model(&args, &dataset)?, label)
        }
    };
    print!("{report}");

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let json = args.out.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    let chart = args.out.join("pr_curve.png");
    draw_pr_curve(&chart, &report, &label).map_err(anyhow::Error::msg)?;
    eprintln!("wrote {} and {}", json.display(), chart.display());
    Ok(ExitCode::SUCCESS)
}

/// Detect with the model on every image, write its submission files and score them.
fn run_model(args: &EvalArgs, dataset: &FaceDataset) -> anyhow::Result<EvalReport> {
    let device = Device::flex();
    let (config, model) = args.model.load(&device)?;
    let detector = Detector::new(model, config, device).with_nms(NmsConfig {
        score_threshold: args.score_threshold,
        ..NmsConfig::evaluation()
    });
    let bar = ProgressBar::new(dataset.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images, eta {eta}")
            .expect("valid template"),
    );
    let (report, images) = evaluate(&detector, dataset, args.iou, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let predictions: Vec<_> = images.into_iter().map(|i| i.predictions).collect();
    let dir = args.out.join("predictions");
    write_submission(&dir, dataset, &predictions)
        .with_context(|| format!("cannot write {}", dir.display()))?;
    eprintln!("wrote {}", dir.display());
    Ok(report)
}

/// Score the submission files in `dir`.
fn score_submission(
    args: &EvalArgs,
    dataset: &FaceDataset,
    dir: &Path,
) -> anyhow::Result<EvalReport> {
    let images: Vec<ImageEval> = read_submission(dir, dataset)?
        .into_iter()
        .enumerate()
        .map(|(index, predictions)| ImageEval {
            truth: ground_truth(dataset, index),
            predictions,
        })
        .collect();
    Ok(score(&images, args.iou))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or("ssdface".into(), |n| n.to_string_lossy().into_owned())
}
