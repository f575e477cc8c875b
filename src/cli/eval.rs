//! `ssdface eval`: WIDER FACE-style AP of a model on a labelled folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use ssdface::boxes::NmsConfig;
use ssdface::data::FaceDataset;
use ssdface::detector::Detector;
use ssdface::eval::{draw_pr_curve, evaluate, write_submission};

use super::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Labelled folder in WIDER FACE layout (labels.txt + images/).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
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
    let device = Device::flex();
    let (config, model) = args.model.load(&device)?;
    let detector = Detector::new(model, config, device).with_nms(NmsConfig {
        score_threshold: args.score_threshold,
        ..NmsConfig::evaluation()
    });
    let dataset = FaceDataset::open(std::slice::from_ref(&args.data))?;
    let bar = ProgressBar::new(dataset.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images, eta {eta}")
            .expect("valid template"),
    );
    let (report, images) = evaluate(&detector, &dataset, args.iou, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    print!("{report}");

    let predictions = args.out.join("predictions");
    write_submission(&predictions, &dataset, &images)
        .with_context(|| format!("cannot write {}", predictions.display()))?;
    let json = args.out.join("report.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    let chart = args.out.join("pr_curve.png");
    let label = args
        .model
        .weights
        .as_ref()
        .and_then(|w| w.file_name())
        .map_or("ssdface".into(), |n| n.to_string_lossy().into_owned());
    draw_pr_curve(&chart, &report, &label).map_err(anyhow::Error::msg)?;
    eprintln!(
        "wrote {}, {} and {}",
        predictions.display(),
        json.display(),
        chart.display()
    );
    Ok(ExitCode::SUCCESS)
}
