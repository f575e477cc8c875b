//! `ssdface eval`: WIDER FACE-style AP of a model, or of any detector's submission files, on a
//! labelled folder, or on WIDER's easy, medium and hard settings at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ssdface::boxes::{NmsConfig, Scored};
use ssdface::data::FaceDataset;
use ssdface::detector::Detector;
use ssdface::eval::{
    EvalReport, draw_pr_curve, open_settings, predict, read_submission, score, setting_folders,
    submission_files, with_truth, write_submission,
};

use super::backend::BackendArgs;
use super::model_source::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Labelled folder in WIDER FACE layout (labels.txt + images/). A folder holding `easy/`,
    /// `medium/` and `hard/` (each in that layout) is scored on all three settings.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    backend: BackendArgs,
    /// Score another detector's boxes instead of running the model: a folder of WIDER FACE
    /// submission files (`<image path>.txt`: name, box count, `x y w h score` lines).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["weights", "input_size", "score_threshold", "nms_iou"])]
    predictions: Option<PathBuf>,
    /// Folder for the predictions (WIDER submission format), the PR curve and the report (one
    /// subfolder per setting).
    #[arg(long, value_name = "DIR", default_value = "eval")]
    out: PathBuf,
    /// IoU a prediction needs with a face to count as found.
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    iou: f32,
    /// Score threshold of the decoder (low, so the curve reaches every recall).
    #[arg(long, default_value_t = NmsConfig::evaluation().score_threshold, value_name = "T")]
    score_threshold: f32,
    /// IoU above which non-maximum suppression drops the weaker of two boxes.
    #[arg(long, default_value_t = NmsConfig::evaluation().iou_threshold, value_name = "T")]
    nms_iou: f32,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    // Checked first: at 0 every box matches, above 1 none does, and NaN compares false.
    if !(args.iou > 0.0 && args.iou <= 1.0) {
        anyhow::bail!(
            "invalid option: --iou must be a number above 0 and at most 1, got {}",
            args.iou
        );
    }
    // One folder, or WIDER's three settings: the same images with different faces counted.
    let settings = match setting_folders(&args.data) {
        Some(folders) => open_settings(&folders)?,
        None => vec![(
            String::new(),
            FaceDataset::open(std::slice::from_ref(&args.data))?,
        )],
    };
    let images = &settings[0].1;
    let (predictions, label) = match &args.predictions {
        Some(dir) => (read_submission(dir, images)?, file_name(dir)),
        None => {
            let label = args
                .model
                .weights
                .as_deref()
                .map_or("ssdface".into(), file_name);
            (run_model(&args, images)?, label)
        }
    };

    let mut text = String::new();
    let mut summary = Vec::new();
    for (setting, dataset) in &settings {
        let report = score(&with_truth(dataset, predictions.clone()), args.iou);
        if !setting.is_empty() {
            text += &format!("{setting}:\n");
        }
        text += &report.to_string();
        write_report(&args.out.join(setting), &report, &label)?;
        summary.push((setting, report.results[0].clone()));
    }
    if settings.len() > 1 {
        text += &format!("\nWIDER FACE settings, IoU >= {}:\n", args.iou);
        text += &format!(
            "{:<8} {:>6} {:>7} {:>7}\n",
            "setting", "faces", "AP", "recall"
        );
        for (setting, all) in summary {
            text += &format!(
                "{:<8} {:>6} {:>7.4} {:>7.4}\n",
                setting, all.faces, all.ap, all.recall
            );
        }
    }
    super::print_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Detect with the model on every image, write its submission files and return the boxes.
fn run_model(args: &EvalArgs, dataset: &FaceDataset) -> anyhow::Result<Vec<Vec<Scored>>> {
    let nms = NmsConfig {
        score_threshold: args.score_threshold,
        iou_threshold: args.nms_iou,
        ..NmsConfig::evaluation()
    };
    nms.validate().context("invalid option")?;
    let dir = args.out.join("predictions");
    // Names that cannot give one submission file each are refused before the model runs.
    submission_files(&dir, dataset)?;
    let device = args.backend.device()?;
    let (config, model) = args.model.load(&device)?;
    let detector = Detector::new(model, config, device).with_nms(nms);
    let bar = ProgressBar::new(dataset.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} images, eta {eta}")
            .expect("valid template"),
    );
    let predictions = predict(&detector, dataset, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    write_submission(&dir, dataset, &predictions)
        .with_context(|| format!("cannot write {}", dir.display()))?;
    eprintln!("wrote {}", dir.display());
    Ok(predictions)
}

/// `report.json` and `pr_curve.png` in `out`.
fn write_report(out: &Path, report: &EvalReport, label: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let json = out.join("report.json");
    ssdface::files::atomic_write(
        &json,
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )
    .with_context(|| format!("cannot write {}", json.display()))?;
    let chart = out.join("pr_curve.png");
    draw_pr_curve(&chart, report, label)?;
    eprintln!("wrote {} and {}", json.display(), chart.display());
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or("ssdface".into(), |n| n.to_string_lossy().into_owned())
}
