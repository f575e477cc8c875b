//! `ssdface detect`: faces in images, as JSON, optionally drawn.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use ssdface::boxes::NmsConfig;
use ssdface::detector::{Detector, Face};
use ssdface::preprocess::{ImageView, PixelFormat};

use ssdface::plots::{draw_faces, save_image};

use super::backend::BackendArgs;
use super::{inputs, model_source::ModelArgs};

#[derive(clap::Args, Debug)]
pub struct DetectArgs {
    /// Image files or folders of images (JPEG, PNG; folders are searched recursively).
    #[arg(required = true, value_name = "IMAGE")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    backend: BackendArgs,
    /// Write the image with boxes and scores drawn: a file for one image, else a folder.
    #[arg(long, value_name = "PATH")]
    draw: Option<PathBuf>,
    /// Write all results to this JSON file instead of standard output.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Faces scoring below this are dropped, 0 to 1 (use 0.01 for evaluation).
    #[arg(
        long,
        default_value_t = NmsConfig::default().score_threshold,
        value_name = "T",
        allow_negative_numbers = true
    )]
    score_threshold: f32,
    /// Boxes overlapping a better one by more than this IoU (0 to 1) are suppressed, and merged
    /// into it weighted by score.
    #[arg(
        long,
        default_value_t = NmsConfig::default().iou_threshold,
        value_name = "T",
        allow_negative_numbers = true
    )]
    iou_threshold: f32,
    /// Only this many best-scoring candidates enter suppression.
    #[arg(long, default_value_t = NmsConfig::default().top_k, value_name = "N")]
    top_k: usize,
    /// At most this many faces per image.
    #[arg(long, default_value_t = NmsConfig::default().max_detections, value_name = "N")]
    max_faces: usize,
    /// Images with more pixels than this many million are refused before they are decoded
    /// (a small file can claim a huge image); 1 to 10000.
    #[arg(
        long,
        default_value_t = ssdface::photo::DEFAULT_MAX_PIXELS / 1_000_000,
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=10_000)
    )]
    max_megapixels: u64,
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
    // Everything that can be checked before the work starts is, so no result is lost.
    let nms = NmsConfig {
        score_threshold: args.score_threshold,
        iou_threshold: args.iou_threshold,
        top_k: args.top_k,
        max_detections: args.max_faces,
    };
    nms.validate().context("invalid option")?;
    if let Some(parent) = args.json.as_deref().and_then(Path::parent)
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        bail!(
            "cannot write --json there: {} is not a folder",
            parent.display()
        );
    }
    let device = args.backend.device()?;
    let (config, model) = args.model.load(&device)?;
    let detector = Detector::new(model, config, device).with_nms(nms);

    let images = inputs::expand(&args.inputs)?;
    let drawn = args
        .draw
        .as_deref()
        .map(|target| draw_paths(target, &images));
    check_outputs(&images, args.json.as_deref(), drawn.as_deref())?;
    let progress = progress_bar(images.len());
    let mut results = Vec::new();
    let mut failures = 0;
    for (index, path) in images.iter().enumerate() {
        progress.set_message(path.display().to_string());
        let mut report = |error: anyhow::Error| {
            failures += 1;
            let message = super::error_message(&error);
            progress.suspend(|| eprintln!("error: {}: {message}", path.display()));
        };
        match detect_one(&detector, path, args.max_megapixels * 1_000_000) {
            Ok((result, rgb)) => {
                // A drawing that cannot be written is reported; the detections are kept.
                if let Some(out) = drawn.as_ref().map(|paths| &paths[index])
                    && let Err(error) = draw_faces(rgb, &result.faces)
                        .map_err(anyhow::Error::from)
                        .and_then(|drawn| {
                            let format = image::ImageFormat::from_path(out)?;
                            Ok(save_image(&drawn, out, format)?)
                        })
                        .with_context(|| format!("cannot write {}", out.display()))
                {
                    report(error);
                }
                results.push(result);
            }
            Err(error) => report(error),
        }
        progress.inc(1);
    }
    progress.finish_and_clear();

    let json = serde_json::to_string_pretty(&results)?;
    match &args.json {
        Some(path) => {
            // Atomically: a failed write (a full disk) leaves the old file whole.
            ssdface::files::atomic_write(path, (json + "\n").as_bytes())
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

/// The faces of one photo (of at most `max_pixels`), and its upright pixels for drawing.
fn detect_one(
    detector: &Detector,
    path: &Path,
    max_pixels: u64,
) -> anyhow::Result<(ImageResult, RgbImage)> {
    let rgb = ssdface::photo::read_upright(path, max_pixels)?;
    let (width, height) = rgb.dimensions();
    let view = ImageView::new(rgb.as_raw(), width, height, PixelFormat::Rgb)?;
    let faces = detector.detect(&view)?;
    let result = ImageResult {
        image: path_text(path),
        width,
        height,
        faces,
    };
    Ok((result, rgb))
}

/// `path` as JSON text: as it is when it is UTF-8, else in Rust's debug form without its quotes
/// (bytes that are not UTF-8 as `\xNN`), so that two such files keep two names (the lossy
/// form would turn both into the same replacement characters).
fn path_text(path: &Path) -> String {
    path.to_str().map_or_else(
        || {
            let quoted = format!("{:?}", path.as_os_str());
            quoted[1..quoted.len() - 1].to_string()
        },
        str::to_owned,
    )
}

/// Where each image's drawing goes: `target` itself for one image (unless it is a folder),
/// else one PNG per image in the folder `target`, named after the image; a name already taken
/// by an earlier image gets `-2`, `-3`, ... so that no drawing replaces another.
/// Refuses, before any detection, outputs that cannot be written as files (a folder given as
/// `--json`, or as a drawing's file) and outputs that would overwrite an input photo.
fn check_outputs(
    images: &[PathBuf],
    json: Option<&Path>,
    drawn: Option<&[PathBuf]>,
) -> anyhow::Result<()> {
    let inputs: std::collections::HashSet<PathBuf> = images
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let outputs = json
        .map(|path| ("--json", path))
        .into_iter()
        .chain(drawn.into_iter().flatten().map(|p| ("--draw", p.as_path())));
    for (option, path) in outputs {
        if path.is_dir() {
            bail!(
                "cannot write {option} to {}: it is a folder",
                path.display()
            );
        }
        if path.canonicalize().is_ok_and(|p| inputs.contains(&p)) {
            bail!(
                "{option} {} is one of the input images: it would be overwritten",
                path.display()
            );
        }
    }
    Ok(())
}

fn draw_paths(target: &Path, images: &[PathBuf]) -> Vec<PathBuf> {
    if images.len() == 1 && !target.is_dir() {
        return vec![target.to_path_buf()];
    }
    let _ = std::fs::create_dir_all(target);
    let mut taken = std::collections::HashSet::new();
    images
        .iter()
        .map(|image| {
            let stem = image.file_stem().unwrap_or_default().to_string_lossy();
            let name = (1..)
                .map(|n| match n {
                    1 => format!("{stem}.png"),
                    n => format!("{stem}-{n}.png"),
                })
                .find(|name| taken.insert(name.clone()))
                .expect("some suffix is free");
            target.join(name)
        })
        .collect()
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
