//! `ssdface detect`: faces in images, as JSON, optionally drawn.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use ssdface::boxes::NmsConfig;
use ssdface::detector::{Detector, Face};
use ssdface::preprocess::{ImageView, PixelFormat};

use super::{draw, inputs, model_source::ModelArgs};

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Image files or folders of images (JPEG, PNG; folders are searched recursively).
    #[arg(required = true, value_name = "IMAGE")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Write the image with boxes and scores drawn: a file for one image, else a folder.
    #[arg(long, value_name = "PATH")]
    draw: Option<PathBuf>,
    /// Write all results to this JSON file instead of standard output.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Faces scoring below this are dropped (use 0.01 for evaluation).
    #[arg(long, default_value_t = 0.5, value_name = "T")]
    score_threshold: f32,
    /// Boxes overlapping a better one by more than this IoU are suppressed.
    #[arg(long, default_value_t = 0.3, value_name = "T")]
    iou_threshold: f32,
    /// Only this many best-scoring candidates enter suppression.
    #[arg(long, default_value_t = 100, value_name = "N")]
    top_k: usize,
    /// At most this many faces per image.
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_faces: usize,
}

/// One image's result, as written in the JSON array.
#[derive(Serialize)]
struct ImageResult {
    image: String,
    width: u32,
    height: u32,
    faces: Vec<Face>,
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let device = Device::flex();
    let (config, model) = args.model.load(&device)?;
    let nms = NmsConfig {
        score_threshold: args.score_threshold,
        iou_threshold: args.iou_threshold,
        top_k: args.top_k,
        max_detections: args.max_faces,
    };
    let detector = Detector::new(model, config, device).with_nms(nms);

    let images = inputs::expand(&args.inputs)?;
    let draw_target = args
        .draw
        .as_deref()
        .map(|p| DrawTarget::new(p, images.len()));
    let progress = progress_bar(images.len());
    let mut results = Vec::new();
    let mut failures = 0;
    for path in &images {
        progress.set_message(path.display().to_string());
        match detect_one(&detector, path, draw_target.as_ref()) {
            Ok(result) => results.push(result),
            Err(error) => {
                failures += 1;
                progress.suspend(|| eprintln!("error: {}: {error:#}", path.display()));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();

    let json = serde_json::to_string_pretty(&results)?;
    match &args.json {
        Some(path) => {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} results to {}", results.len(), path.display());
        }
        None => super::print_stdout(&(json + "\n"))?,
    }
    if failures > 0 {
        eprintln!("{failures} of {} images failed", images.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn detect_one(
    detector: &Detector,
    path: &Path,
    draw_target: Option<&DrawTarget>,
) -> anyhow::Result<ImageResult> {
    let rgb = image::open(path).context("cannot read image")?.to_rgb8();
    let (width, height) = rgb.dimensions();
    let view = ImageView::new(rgb.as_raw(), width, height, PixelFormat::Rgb)?;
    let faces = detector.detect(&view)?;
    if let Some(target) = draw_target {
        let out = target.path_for(path);
        draw::faces(rgb, &faces)
            .save(&out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(ImageResult {
        image: path.display().to_string(),
        width,
        height,
        faces,
    })
}

/// Where drawn images go: one file, or a folder with one PNG per input.
enum DrawTarget {
    File(PathBuf),
    Folder(PathBuf),
}

impl DrawTarget {
    fn new(path: &Path, images: usize) -> Self {
        if images == 1 && !path.is_dir() {
            Self::File(path.to_path_buf())
        } else {
            Self::Folder(path.to_path_buf())
        }
    }

    fn path_for(&self, image: &Path) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Folder(dir) => {
                let _ = std::fs::create_dir_all(dir);
                let stem = image.file_stem().unwrap_or_default().to_string_lossy();
                dir.join(format!("{stem}.png"))
            }
        }
    }
}

fn progress_bar(len: usize) -> ProgressBar {
    if len < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} images, {per_sec}, eta {eta} {wide_msg}",
        )
        .expect("valid template"),
    );
    bar
}
