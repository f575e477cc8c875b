//! The `ssdface` binary end to end, on real photos.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::config::Config;
use burn::prelude::*;
use serde_json::Value;
use ssdface::boxes::NmsConfig;
use ssdface::data::FaceDataset;
use ssdface::model::SsdConfig;
use ssdface::weights::{self, Precision};

const PHOTO: &str = "maksssksksss1.jpg";
const OTHER_PHOTO: &str = "maksssksksss10.jpg";

fn ssdface(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ssdface"))
        .args(args)
        .output()
        .expect("the ssdface binary runs")
}

/// Weights of a freshly initialised network: enough to exercise the whole pipeline.
fn untrained_weights(dir: &Path) -> PathBuf {
    let path = dir.join("untrained.ssdface");
    let device = Device::flex();
    let config = SsdConfig::new();
    let model = config.init(&device).unwrap();
    weights::save_file(&model, &config, Precision::Half, &path).unwrap();
    path
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn image_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap()
}

/// Every face of a result lies inside its image.
fn assert_faces_inside(entry: &Value) {
    let (w, h) = (
        entry["width"].as_f64().unwrap(),
        entry["height"].as_f64().unwrap(),
    );
    for face in entry["faces"].as_array().unwrap() {
        let get = |k: &str| face[k].as_f64().unwrap();
        let (x, y, fw, fh, score) = (
            get("x"),
            get("y"),
            get("width"),
            get("height"),
            get("score"),
        );
        assert!(x >= 0.0 && y >= 0.0, "{face}");
        assert!(fw > 0.0 && fh > 0.0, "{face}");
        assert!(
            x + fw <= w + 1e-3 && y + fh <= h + 1e-3,
            "{face} outside {w}x{h}"
        );
        assert!((0.0..=1.0).contains(&score), "{face}");
    }
}

#[test]
fn detect_prints_json_and_draws_the_photo() {
    let dir = common::scratch("detect_prints_json");
    let weights = untrained_weights(&dir);
    let photo = common::val_image(PHOTO);
    let drawn = dir.join("out.png");
    let output = ssdface(&[
        "detect",
        photo.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--score-threshold",
        "0.01",
        "--draw",
        drawn.to_str().unwrap(),
    ]);
    common::assert_success(&output, "ssdface detect");
    let json = stdout_json(&output);
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["image"], photo.to_str().unwrap());
    let (w, h) = image_size(&photo);
    assert_eq!(
        (entry["width"].as_u64(), entry["height"].as_u64()),
        (Some(w as u64), Some(h as u64))
    );
    // An untrained network scores every prior near 0.5, so a low threshold yields boxes.
    assert!(!entry["faces"].as_array().unwrap().is_empty());
    assert_faces_inside(entry);
    assert_eq!(image_size(&drawn), (w, h));
    let original = image::open(&photo).unwrap().to_rgb8();
    let boxed = image::open(&drawn).unwrap().to_rgb8();
    assert_ne!(original.as_raw(), boxed.as_raw(), "boxes should be drawn");
}

#[test]
fn a_corrupt_image_is_reported_and_the_others_still_processed() {
    let dir = common::scratch("corrupt_image");
    let weights = untrained_weights(&dir);
    let corrupt = dir.join("corrupt.jpg");
    std::fs::write(
        &corrupt,
        b"\xff\xd8\xff\xe0 this is not really a JPEG\xff\xda\x00\x00\xff\xd9",
    )
    .unwrap();
    let (good, other) = (common::val_image(PHOTO), common::val_image(OTHER_PHOTO));
    let results = dir.join("results.json");
    let output = ssdface(&[
        "detect",
        good.to_str().unwrap(),
        corrupt.to_str().unwrap(),
        other.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--json",
        results.to_str().unwrap(),
    ]);
    assert!(!output.status.success(), "a failed image must fail the run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corrupt.jpg"), "{stderr}");
    assert!(stderr.contains("1 of 3 images failed"), "{stderr}");
    // The decoder's message, said once on the image's one line.
    let line = stderr.lines().find(|l| l.contains("corrupt.jpg")).unwrap();
    assert!(line.contains("Jpeg"), "{stderr}");
    assert_eq!(stderr.matches("Not enough bytes").count(), 1, "{stderr}");
    let json: Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let images: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        vec![good.to_str().unwrap(), other.to_str().unwrap()]
    );
}

#[test]
fn a_folder_is_searched_for_images() {
    let dir = common::scratch("folder_input");
    let weights = untrained_weights(&dir);
    let photos = dir.join("photos/nested");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::copy(common::val_image(PHOTO), photos.join("a.jpg")).unwrap();
    std::fs::copy(common::val_image(OTHER_PHOTO), dir.join("photos/b.JPG")).unwrap();
    std::fs::write(dir.join("photos/notes.txt"), "not an image").unwrap();
    let drawn = dir.join("drawn");
    let output = ssdface(&[
        "detect",
        dir.join("photos").to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--draw",
        drawn.to_str().unwrap(),
    ]);
    common::assert_success(&output, "ssdface detect");
    let json = stdout_json(&output);
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert!(drawn.join("a.png").is_file() && drawn.join("b.png").is_file());
}

#[test]
fn input_size_override_is_checked() {
    let dir = common::scratch("input_size");
    let weights = untrained_weights(&dir);
    let photo = common::val_image(PHOTO);
    let ok = ssdface(&[
        "detect",
        photo.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--input-size",
        "640x480",
    ]);
    common::assert_success(&ok, "ssdface detect");
    assert_faces_inside(&stdout_json(&ok)[0]);
    let bad = ssdface(&[
        "detect",
        photo.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--input-size",
        "321x240",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("multiples of 8"));
}

// Linux file systems take any bytes in a name; macOS refuses names that are not UTF-8.
#[cfg(target_os = "linux")]
#[test]
fn photos_whose_names_are_not_utf8_keep_distinct_names_in_the_json() {
    use std::os::unix::ffi::OsStrExt;
    let dir = common::scratch("names_not_utf8");
    let names = [&b"face\xff.jpg"[..], &b"face\xfe.jpg"[..]];
    let photos: Vec<PathBuf> = names
        .iter()
        .map(|name| dir.join(std::ffi::OsStr::from_bytes(name)))
        .collect();
    for photo in &photos {
        std::fs::copy(common::val_image(PHOTO), photo).unwrap();
    }
    let output = Command::new(env!("CARGO_BIN_EXE_ssdface"))
        .arg("detect")
        .args(&photos)
        .output()
        .unwrap();
    common::assert_success(&output, "detect on names that are not UTF-8");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let written: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["image"].as_str().unwrap())
        .collect();
    assert_eq!(written.len(), 2);
    assert!(
        written[0].ends_with("face\\xFF.jpg") && written[1].ends_with("face\\xFE.jpg"),
        "{written:?}"
    );
}

#[test]
fn a_file_that_is_not_weights_is_a_clear_error() {
    let photo = common::val_image(PHOTO);
    let output = ssdface(&[
        "detect",
        photo.to_str().unwrap(),
        "--weights",
        photo.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not an ssdface weights file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_file_and_its_cause_are_each_said_once() {
    let photo = common::val_image(PHOTO);
    let dir = common::scratch("missing_files");
    let weights = dir.join("absent.ssdface");
    let image = dir.join("absent.jpg");
    let (photo, weights, image) = (
        photo.to_str().unwrap(),
        weights.to_str().unwrap(),
        image.to_str().unwrap(),
    );
    for (args, missing) in [
        (vec!["detect", photo, "--weights", weights], weights),
        (vec!["detect", image], image),
    ] {
        let output = ssdface(&args);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = stderr.matches(missing).count();
        assert_eq!(named, 1, "the path is named {named} times: {stderr}");
        assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    }
}

#[test]
fn info_describes_the_default_model() {
    let output = ssdface(&["info"]);
    common::assert_success(&output, "ssdface info");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let bundled = weights::read_config(ssdface::default_model::DEFAULT_WEIGHTS).unwrap();
    let params = bundled.init(&Device::flex()).unwrap().num_params();
    assert!(
        stdout.contains(&format!("parameters: {params}")),
        "{stdout}"
    );
    assert!(stdout.contains("priors: 4420"), "{stdout}");
    assert!(stdout.contains("MFLOPs"), "{stdout}");
    // The bundled model's own config, not a fresh one: its JSON is printed as stored.
    assert!(
        stdout.contains(&format!(
            "config: {}",
            burn::config::config_to_json(&bundled)
        )),
        "{stdout}"
    );
}

#[test]
fn info_describes_a_network_config_file() {
    let dir = common::scratch("info_model");
    let wider = SsdConfig::new().with_width_multiplier(0.75);
    let path = dir.join("wider.json");
    wider.save(&path).unwrap();
    let output = ssdface(&["info", "--model", path.to_str().unwrap()]);
    common::assert_success(&output, "ssdface info --model");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let params = wider.init(&Device::flex()).unwrap().num_params();
    let default_params = SsdConfig::new().init(&Device::flex()).unwrap().num_params();
    assert!(params > default_params);
    assert!(
        stdout.contains(&format!("parameters: {params}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("config: {}", burn::config::config_to_json(&wider))),
        "{stdout}"
    );

    // The README's example of a wider network loads, and its f16 weights (two bytes a
    // parameter plus the file's header, 35 KB for the bundled model) stay under 1 MB.
    let example = common::repo_root().join("models/wide-stride8.json");
    let output = ssdface(&["info", "--model", example.to_str().unwrap()]);
    common::assert_success(&output, "ssdface info --model models/wide-stride8.json");
    let example = SsdConfig::load(&example).unwrap();
    let params = example.init(&Device::flex()).unwrap().num_params();
    assert!(params * 2 < 950_000, "{params} parameters");
    let stride8 = example.stages.iter().find(|stage| stage.tap).unwrap();
    assert_eq!(
        example.scaled(stride8.channels),
        64,
        "the finest level's channels"
    );

    // A file that is not a config, and a config of no working network, are named and refused.
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "width 0.75").unwrap();
    let invalid = dir.join("invalid.json");
    SsdConfig::new()
        .with_width_multiplier(0.0)
        .save(&invalid)
        .unwrap();
    for (file, error) in [
        (&not_json, "not.json: not a network config"),
        (&invalid, "width_multiplier must be positive and finite"),
    ] {
        let output = ssdface(&["info", "--model", file.to_str().unwrap()]);
        common::assert_refused(&output, error, "a bad network config");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `ssdface info | head -0`: the pipe is closed before anything is written.
    let photo = common::val_image(PHOTO);
    for args in [vec!["info"], vec!["detect", photo.to_str().unwrap()]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssdface"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !stderr.contains("panicked"),
            "{args:?}: {:?}\n{stderr}",
            output.status
        );
    }
}

/// Write `boxes(image index)` as WIDER submission files for every image of `val`.
fn write_submission_files(
    dir: &Path,
    val: &FaceDataset,
    boxes: impl Fn(usize) -> Vec<(f32, f32, f32, f32, f32)>,
) {
    for index in 0..val.len() {
        let path = dir.join(Path::new(val.name(index)).with_extension("txt"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let boxes = boxes(index);
        let mut text = format!("{}\n{}\n", val.name(index), boxes.len());
        for (x, y, w, h, score) in boxes {
            text.push_str(&format!("{x} {y} {w} {h} {score}\n"));
        }
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn eval_scores_another_detectors_submission_files() {
    let dir = common::scratch("eval_submission");
    let data = common::data_dir().join("val");
    let val = FaceDataset::open(std::slice::from_ref(&data)).unwrap();
    let truth = |index: usize| -> Vec<(f32, f32, f32, f32, f32)> {
        val.labels(index)
            .iter()
            .map(|(b, _)| (b.x1, b.y1, b.width(), b.height(), 0.9))
            .collect()
    };
    let eval = |predictions: &Path, out: &Path| {
        ssdface(&[
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--predictions",
            predictions.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let report = |out: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
    };

    // The labels themselves are a perfect detector.
    let perfect = dir.join("perfect");
    write_submission_files(&perfect, &val, truth);
    let output = eval(&perfect, &dir.join("perfect-eval"));
    common::assert_success(&output, "ssdface eval");
    let all = &report(&dir.join("perfect-eval"))["results"][0];
    assert_eq!(all["sizes"], "all");
    assert_eq!(all["ap"].as_f64().unwrap(), 1.0, "{all}");
    assert_eq!(all["recall"].as_f64().unwrap(), 1.0, "{all}");
    assert!(dir.join("perfect-eval/pr_curve.png").is_file());

    // Every face found, plus a confident box on nothing in each image: precision drops.
    let noisy = dir.join("noisy");
    write_submission_files(&noisy, &val, |index| {
        let mut boxes = truth(index);
        boxes.push((0.0, 0.0, 2.0, 2.0, 0.95));
        boxes
    });
    common::assert_success(&eval(&noisy, &dir.join("noisy-eval")), "ssdface eval");
    let all = &report(&dir.join("noisy-eval"))["results"][0];
    assert_eq!(all["recall"].as_f64().unwrap(), 1.0, "{all}");
    assert!(all["ap"].as_f64().unwrap() < 0.9, "{all}");

    // A malformed line is an error naming the file and line.
    let name = Path::new(val.name(0)).with_extension("txt");
    std::fs::write(perfect.join(&name), format!("{}\n1\n1 2 3\n", val.name(0))).unwrap();
    let output = eval(&perfect, &dir.join("broken-eval"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("{}:3:", name.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn eval_scores_wider_easy_medium_and_hard_at_once() {
    let dir = common::scratch("eval_settings");
    let wider = common::data_dir().join("wider-dev");
    let easy = FaceDataset::open(&[wider.join("easy")]).unwrap();
    // A detector that finds exactly the easy faces: perfect on easy, short of recall on the
    // settings that count more faces.
    let predictions = dir.join("easy-faces");
    write_submission_files(&predictions, &easy, |index| {
        easy.labels(index)
            .iter()
            .filter(|(_, invalid)| !invalid)
            .map(|(b, _)| (b.x1, b.y1, b.width(), b.height(), 0.9))
            .collect()
    });
    let out = dir.join("eval");
    let output = ssdface(&[
        "eval",
        "--data",
        wider.to_str().unwrap(),
        "--predictions",
        predictions.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    common::assert_success(&output, "ssdface eval");
    let all = |setting: &str| -> Value {
        let text = std::fs::read_to_string(out.join(setting).join("report.json")).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["results"][0].clone()
    };
    let value = |setting: &str, key: &str| all(setting)[key].as_f64().unwrap();
    assert_eq!(value("easy", "ap"), 1.0);
    assert_eq!(value("easy", "recall"), 1.0);
    assert!(value("medium", "recall") < 1.0 && value("hard", "recall") < value("medium", "recall"));
    assert!(value("hard", "faces") > value("medium", "faces"));
    assert!(value("medium", "faces") > value("easy", "faces"));
    // The summary names each setting with its AP.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .split("WIDER FACE settings")
        .nth(1)
        .unwrap_or_default();
    for setting in ["easy", "medium", "hard"] {
        let line = summary
            .lines()
            .find(|l| l.starts_with(setting))
            .unwrap_or_else(|| panic!("no {setting} line in:\n{stdout}"));
        let ap: f64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!((ap - value(setting, "ap")).abs() < 1e-4, "{line}");
    }
}

/// The output of `ssdface args...` with a limit: a command still running after `seconds` is
/// killed and the test fails (a hang is a failure, not a stuck suite).
fn ssdface_within(seconds: u64, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssdface"));
    command.args(args);
    finished_within(seconds, command)
}

/// The output of `command`, which must end within `seconds` (it is killed otherwise).
fn finished_within(seconds: u64, mut command: Command) -> Output {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() >= seconds {
            child.kill().unwrap();
            panic!("{command:?} still running after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Outputs that would overwrite an input photo, or that name a folder, are refused before any
/// detection, and the photo is left as it was.
#[test]
fn detect_never_overwrites_its_inputs() {
    let dir = common::scratch("detect_never_overwrites_its_inputs");
    let photo = dir.join("photo.jpg");
    std::fs::copy(common::val_image(PHOTO), &photo).unwrap();
    let original = std::fs::read(&photo).unwrap();
    let photo = photo.to_str().unwrap();
    for option in ["--json", "--draw"] {
        let output = ssdface(&["detect", photo, option, photo]);
        common::assert_refused(&output, "is one of the input images", option);
        assert_eq!(
            std::fs::read(photo).unwrap(),
            original,
            "{option} changed the photo"
        );
    }
    let output = ssdface(&["detect", photo, "--json", dir.to_str().unwrap()]);
    common::assert_refused(&output, "cannot write --json to", "--json FOLDER");
    assert!(output.stdout.is_empty());
}

/// Numbers that would panic (a time limit as a `Duration`) or score silently wrong (a matching
/// IoU outside (0, 1]) are refused before any work, and a refused run writes nothing.
/// `ssdface train` of a new run on `data` (training and validation alike) into `out`.
fn new_run_args<'a>(data: &'a str, out: &'a str) -> [&'a str; 7] {
    ["train", "--data", data, "--val", data, "--out", out]
}

#[test]
fn training_and_evaluation_refuse_numbers_out_of_range() {
    let val = common::data_dir().join("val");
    let val = val.to_str().unwrap();
    let out = common::scratch("eval_iou_out_of_range");
    for value in ["2", "nan", "-1", "0"] {
        let output = ssdface_within(
            60,
            &[
                "eval",
                "--data",
                val,
                "--out",
                out.to_str().unwrap(),
                &format!("--iou={value}"),
            ],
        );
        common::assert_refused(
            &output,
            "--iou must be a number above 0 and at most 1",
            value,
        );
        assert!(output.stdout.is_empty(), "--iou {value}: no report");
    }
    let run = common::scratch("train_time_limit_out_of_range");
    for value in ["-1", "nan", "1e300", "0", "inf"] {
        let limit = format!("--max-minutes={value}");
        let args = [&new_run_args(val, run.to_str().unwrap())[..], &[&limit]].concat();
        let output = ssdface_within(60, &args);
        common::assert_refused(
            &output,
            "--max-minutes must be a number of minutes above 0",
            value,
        );
        assert!(
            !run.join("train_config.json").exists(),
            "--max-minutes {value} wrote a run"
        );
        // The same limit on a resumed run (here a folder without one: the limit is checked first).
        let resumed = ssdface_within(60, &["train", "--resume", run.to_str().unwrap(), &limit]);
        common::assert_refused(
            &resumed,
            "--max-minutes must be a number of minutes above 0",
            value,
        );
    }
}

#[test]
fn a_new_run_never_writes_into_a_folder_holding_other_files() {
    let val = common::data_dir().join("val");
    let val = val.to_str().unwrap();
    let out = common::scratch("train_out_not_a_run");
    let plot = out.join("loss.png");
    std::fs::write(&plot, b"the user's own plot").unwrap();
    let file = out.join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    for target in [&out, &file] {
        let args = new_run_args(val, target.to_str().unwrap());
        let output = ssdface_within(60, &args);
        common::assert_refused(
            &output,
            "is not an empty folder",
            &target.display().to_string(),
        );
    }
    assert_eq!(std::fs::read(&plot).unwrap(), b"the user's own plot");
    assert!(!out.join("train_config.json").exists());
}

#[test]
fn one_run_is_trained_by_one_process_at_a_time() {
    let val = common::data_dir().join("val");
    let val = val.to_str().unwrap();
    let run = common::scratch("train_run_in_use");
    // This test process stands in for a trainer holding the run.
    let lock = std::fs::File::create(run.join(ssdface::train::LOCK_FILE)).unwrap();
    lock.try_lock().unwrap();
    let args = new_run_args(val, run.to_str().unwrap());
    common::assert_refused(
        &ssdface_within(60, &args),
        "in use by another training",
        "start",
    );
    assert!(!run.join("train_config.json").exists());
    ssdface::train::TrainConfig::new()
        .save(run.join("train_config.json"))
        .unwrap();
    let resume = ["train", "--resume", run.to_str().unwrap()];
    common::assert_refused(
        &ssdface_within(60, &resume),
        "in use by another training",
        "resume",
    );
    // Released (as when the trainer ends, however it ends), the run is anyone's again: the
    // resume gets past the lock to the missing data file.
    drop(lock);
    common::assert_refused(
        &ssdface_within(60, &resume),
        "data.json",
        "resume after release",
    );
}

#[test]
fn a_checkpoint_that_cannot_be_written_ends_the_run_at_once_and_it_resumes_later() {
    // A file size limit stands in for a full disk: writes past `ulimit -f 1024` blocks (512
    // KiB in dash's 512-byte blocks, 1 MiB in bash's) fail with EFBIG (the signal that would
    // kill the process ignored), as the network's checkpoint (1.9 MB) does, while the run's
    // small files are written.
    let humanfaces = common::data_dir().join("humanfaces");
    let data = humanfaces.to_str().unwrap();
    let run = common::scratch("train_checkpoint_not_written");
    let out = run.join("run");
    let out = out.to_str().unwrap();
    let settings = ["--max-images", "4", "--batch-size", "2", "--epochs", "2"];
    let mut limited = Command::new("sh");
    limited
        .args(["-c", "ulimit -f 1024; trap '' XFSZ; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_ssdface"))
        .args(new_run_args(data, out))
        .args(settings);
    let output = finished_within(120, limited);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("File too large") && stderr.contains("checkpoint"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // No epoch is recorded without its checkpoint: the run resumes from the start.
    assert!(!run.join("run/history.json").exists());
    let resumed = ssdface_within(120, &["train", "--resume", out]);
    common::assert_success(&resumed, "train --resume after the failed checkpoint");
    let history = ssdface::train::History::load(&run.join("run")).unwrap();
    assert_eq!(history.epochs.len(), 2);
}

#[test]
fn absurd_options_are_refused_with_a_clear_message() {
    let photo = common::val_image(PHOTO);
    let photo = photo.to_str().unwrap();
    for (option, value, expected) in [
        (
            "--score-threshold",
            "2",
            "score threshold must be a number from 0 to 1, got 2",
        ),
        (
            "--score-threshold",
            "nan",
            "score threshold must be a number from 0 to 1",
        ),
        ("--score-threshold", "-1", "got -1"),
        (
            "--iou-threshold",
            "5",
            "IoU threshold must be a number from 0 to 1",
        ),
        ("--iou-threshold", "nan", "IoU threshold"),
        ("--top-k", "0", "top-k must be at least 1"),
        (
            "--max-faces",
            "0",
            "the most faces per image must be at least 1",
        ),
    ] {
        let output = ssdface(&["detect", photo, option, value]);
        common::assert_refused(&output, expected, &format!("{option} {value}"));
        assert!(output.stdout.is_empty(), "{option} {value}: no results");
    }
    // Evaluation's decoder thresholds are checked before any image is scored.
    let val = common::data_dir().join("val");
    let out = common::scratch("eval_absurd_options");
    for (option, value, expected) in [
        (
            "--score-threshold",
            "2",
            "score threshold must be a number from 0 to 1, got 2",
        ),
        (
            "--nms-iou",
            "5",
            "IoU threshold must be a number from 0 to 1, got 5",
        ),
    ] {
        let output = ssdface(&[
            "eval",
            "--data",
            val.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            option,
            value,
        ]);
        common::assert_refused(&output, expected, &format!("eval {option} {value}"));
        assert!(output.stdout.is_empty(), "eval {option} {value}: no report");
    }
    // An input size that would need gigabytes is refused before anything is allocated.
    for command in ["detect", "info"] {
        let mut args = vec![command, "--input-size", "100000x100000"];
        if command == "detect" {
            args.push(photo);
        }
        let output = ssdface_within(60, &args);
        common::assert_refused(&output, "from 32 to 4096 pixels", command);
    }
}

#[test]
fn folders_linked_to_themselves_are_searched_once() {
    let dir = common::scratch("detect_symlink_loops");
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::copy(common::val_image(PHOTO), photos.join("a.jpg")).unwrap();
    std::os::unix::fs::symlink(".", photos.join("self")).unwrap();
    std::os::unix::fs::symlink(".", photos.join("again")).unwrap();
    std::os::unix::fs::symlink("..", photos.join("parent")).unwrap();
    let output = ssdface_within(120, &["detect", photos.to_str().unwrap()]);
    common::assert_success(&output, "ssdface detect");
    let results = stdout_json(&output);
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
}

/// `jpeg` with an EXIF APP1 segment saying `orientation`, inserted after the start marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    // One IFD entry: tag 0x0112 (orientation), type SHORT, count 1, the value; no next IFD.
    exif.extend([
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        orientation,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    let length = (exif.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(length.to_be_bytes());
    out.extend(exif);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn a_photo_stored_sideways_is_detected_upright() {
    let dir = common::scratch("detect_exif");
    let upright = image::open(common::val_image(OTHER_PHOTO))
        .unwrap()
        .to_rgb8();
    let encode = |image: &image::RgbImage| {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
            .encode_image(image)
            .unwrap();
        bytes
    };
    let upright_path = dir.join("upright.jpg");
    std::fs::write(&upright_path, encode(&upright)).unwrap();
    // Orientation 6: stored turned a quarter anticlockwise, shown turned back clockwise.
    let sideways = image::imageops::rotate270(&upright);
    let sideways_path = dir.join("sideways.jpg");
    std::fs::write(&sideways_path, with_exif_orientation(&encode(&sideways), 6)).unwrap();

    let detect = |path: &Path| {
        let output = ssdface(&["detect", path.to_str().unwrap()]);
        common::assert_success(&output, "ssdface detect");
        stdout_json(&output)[0].clone()
    };
    let (want, got) = (detect(&upright_path), detect(&sideways_path));
    assert_eq!(got["width"], want["width"]);
    assert_eq!(got["height"], want["height"]);
    let (want, got) = (
        want["faces"].as_array().unwrap(),
        got["faces"].as_array().unwrap(),
    );
    assert!(!want.is_empty());
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        for key in ["x", "y", "width", "height"] {
            let (g, w) = (g[key].as_f64().unwrap(), w[key].as_f64().unwrap());
            assert!((g - w).abs() < 4.0, "{key}: {g} vs {w}");
        }
    }
}

#[test]
fn a_truncated_jpeg_is_reported_not_detected() {
    let dir = common::scratch("detect_truncated");
    let bytes = std::fs::read(common::val_image(PHOTO)).unwrap();
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let whole = common::val_image(OTHER_PHOTO);
    let output = ssdface(&["detect", cut.to_str().unwrap(), whole.to_str().unwrap()]);
    common::assert_refused(&output, "truncated JPEG", "half a JPEG");
    // The other photo is still detected.
    let results = stdout_json(&output);
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
}

#[test]
fn results_are_never_lost_to_an_output_problem() {
    let dir = common::scratch("detect_outputs");
    let photo = common::val_image(PHOTO);
    let photo = photo.to_str().unwrap();

    // --json into a missing folder fails before any detection.
    let missing = dir.join("missing/out.json");
    let output = ssdface(&["detect", photo, "--json", missing.to_str().unwrap()]);
    common::assert_refused(&output, "is not a folder", "--json into a missing folder");

    // A drawing that cannot be written is an error; the image's faces are still printed.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "a file where a folder is expected").unwrap();
    let drawn = blocker.join("out.png");
    let output = ssdface(&["detect", photo, "--draw", drawn.to_str().unwrap()]);
    common::assert_refused(&output, "cannot write", "--draw into a file");
    let results = stdout_json(&output);
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
    assert!(!results[0]["faces"].as_array().unwrap().is_empty());

    // Two photos with the same file name get two drawings.
    let (a, b) = (dir.join("a"), dir.join("b"));
    for folder in [&a, &b] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::copy(common::val_image(PHOTO), folder.join("same.jpg")).unwrap();
    }
    let drawings = dir.join("drawings");
    let output = ssdface(&[
        "detect",
        a.join("same.jpg").to_str().unwrap(),
        b.join("same.jpg").to_str().unwrap(),
        "--draw",
        drawings.to_str().unwrap(),
    ]);
    common::assert_success(&output, "ssdface detect --draw");
    assert!(drawings.join("same.png").is_file() && drawings.join("same-2.png").is_file());
}

#[test]
fn average_writes_the_mean_network_and_refuses_other_architectures() {
    let dir = common::scratch("average_cli");
    let device = Device::flex();
    let write = |name: &str, config: &SsdConfig| {
        let path = dir.join(name);
        let model = config.init(&device).unwrap();
        weights::save_file(&model, config, Precision::Full, &path).unwrap();
        path
    };
    let first = write("first.ssdface", &SsdConfig::new());
    let second = write("second.ssdface", &SsdConfig::new());
    let out = dir.join("mean.ssdface");
    let output = ssdface(&[
        "average",
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--f32",
        "--out",
        out.to_str().unwrap(),
    ]);
    common::assert_success(&output, "average");

    let load = |path: &Path| weights::load_file(path, &device).unwrap();
    let expected = ssdface::average::average(vec![load(&first).1, load(&second).1]).unwrap();
    let (config, mean) = load(&out);
    assert_eq!(config, SsdConfig::new());
    // The same input through each network: the written one must compute what the mean does.
    let input = Tensor::<4>::random(
        [1, 3, config.input_height, config.input_width],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        &device,
    );
    let logits = |model: &ssdface::model::Ssd| {
        let output = model.forward(input.clone());
        output.logits.into_data().try_into_vec::<f32>().unwrap()
    };
    let (written, expected, first) = (logits(&mean), logits(&expected), logits(&load(&first).1));
    assert_eq!(written, expected, "the file holds the parameter-wise mean");
    assert_ne!(written, first, "the mean differs from its inputs");

    let wide = write("wide.ssdface", &SsdConfig::new().with_width_multiplier(2.0));
    let output = ssdface(&[
        "average",
        second.to_str().unwrap(),
        wide.to_str().unwrap(),
        "--out",
        dir.join("refused.ssdface").to_str().unwrap(),
    ]);
    common::assert_refused(
        &output,
        "is for another network",
        "average of two architectures",
    );
    assert!(!dir.join("refused.ssdface").exists());
}

#[test]
fn weights_that_are_not_finite_numbers_are_refused() {
    /// Every float parameter times NaN: a training run that diverged.
    struct Diverged;
    impl burn::module::ModuleMapper for Diverged {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            param.map(|tensor| tensor.mul_scalar(f32::NAN))
        }
    }
    let dir = common::scratch("not_finite_weights");
    let config = SsdConfig::new();
    let model = burn::module::Module::map(config.init(&Device::flex()).unwrap(), &mut Diverged);
    let diverged = dir.join("diverged.ssdface");
    weights::save_file(&model, &config, Precision::Full, &diverged).unwrap();
    let healthy = untrained_weights(&dir);
    let photo = common::val_image(PHOTO);
    let mean = dir.join("mean.ssdface");
    for args in [
        vec![
            "detect",
            photo.to_str().unwrap(),
            "--weights",
            diverged.to_str().unwrap(),
        ],
        vec![
            "average",
            healthy.to_str().unwrap(),
            diverged.to_str().unwrap(),
            "--out",
            mean.to_str().unwrap(),
        ],
    ] {
        let output = ssdface(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains("not finite numbers"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("diverged.ssdface"),
            "{args:?} names no file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(
        !mean.exists(),
        "average wrote a model from non-finite weights"
    );
}

/// A JPEG of `width` x `height` pixels in one colour.
fn plain_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([120, 100, 90]))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    bytes
}

#[test]
fn photos_over_the_pixel_limit_and_named_pipes_are_refused_promptly() {
    let dir = common::scratch("detect_limits");
    let large = dir.join("large.jpg");
    std::fs::write(&large, plain_jpeg(1200, 1000)).unwrap();
    let pipe = dir.join("pipe.jpg");
    let _ = std::fs::remove_file(&pipe);
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success(), "mkfifo");
    let whole = common::val_image(OTHER_PHOTO);
    let (large, pipe, whole) = (
        large.to_str().unwrap(),
        pipe.to_str().unwrap(),
        whole.to_str().unwrap(),
    );

    // 1.2 megapixels: within the default limit, over a limit of 1.
    let output = ssdface_within(120, &["detect", large]);
    common::assert_success(&output, "detect under the default limit");
    let output = ssdface_within(120, &["detect", "--max-megapixels", "1", large, whole]);
    common::assert_refused(
        &output,
        "1200x1000 pixels is more than the 1 megapixels",
        "limit",
    );
    assert_eq!(stdout_json(&output).as_array().unwrap().len(), 1);
    let output = ssdface_within(120, &["detect", "--max-megapixels", "0", whole]);
    common::assert_refused(&output, "--max-megapixels", "a limit of 0");

    // Reading a pipe would wait for a writer forever.
    let output = ssdface_within(120, &["detect", pipe, whole]);
    common::assert_refused(&output, "not a regular file", "a named pipe");
    assert_eq!(stdout_json(&output).as_array().unwrap().len(), 1);
}

#[test]
fn training_and_evaluation_read_photos_as_detect_does() {
    // A labelled photo stored sideways (EXIF orientation 6), then one cut short, then a named
    // pipe.
    let dir = common::scratch("dataset_photos");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    // Stored 64 wide and 48 high, shown 48 wide and 64 high; the face is low in the upright
    // photo, below row 48, where the stored size would clip it away.
    std::fs::write(
        images.join("sideways.jpg"),
        with_exif_orientation(&plain_jpeg(64, 48), 6),
    )
    .unwrap();
    let labels = "sideways.jpg\n1\n10 50 20 10 0 0 0 0 0 0\n";
    std::fs::write(dir.join("labels.txt"), labels).unwrap();
    let dataset = FaceDataset::open(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(
        dataset.stats().kept(),
        1,
        "the face lies inside the upright photo"
    );
    let sample = dataset.load(0).unwrap();
    assert_eq!(sample.image.dimensions(), (48, 64));

    // Cut within its scan: the header is whole, the pixels are not.
    let whole = std::fs::read(common::val_image(PHOTO)).unwrap();
    std::fs::write(images.join("cut.jpg"), &whole[..whole.len() / 2]).unwrap();
    let labels = "cut.jpg\n1\n10 10 20 20 0 0 0 0 0 0\n";
    std::fs::write(dir.join("labels.txt"), labels).unwrap();
    let error = FaceDataset::open(std::slice::from_ref(&dir))
        .and_then(|dataset| dataset.load(0).map(|_| ()))
        .unwrap_err();
    assert!(error.to_string().contains("truncated JPEG"), "{error}");

    let pipe = images.join("pipe.jpg");
    let _ = std::fs::remove_file(&pipe);
    assert!(
        Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(
        dir.join("labels.txt"),
        "pipe.jpg\n1\n10 10 20 20 0 0 0 0 0 0\n",
    )
    .unwrap();
    let error = FaceDataset::open(std::slice::from_ref(&dir)).unwrap_err();
    assert!(error.to_string().contains("not a regular file"), "{error}");
}

/// The `[default: V]` that `--help` shows for `flag` (the text between the flag's line and the
/// next option).
fn help_default(help: &str, flag: &str) -> String {
    let start = help
        .find(&format!("{flag} "))
        .unwrap_or_else(|| panic!("{flag} is not in the help:\n{help}"));
    let block = &help[start..];
    let block = &block[..block[2..].find("\n  -").map_or(block.len(), |end| end + 2)];
    let value = block
        .split("[default: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{flag} shows no default:\n{block}"));
    value[..value.find(']').unwrap()].to_string()
}

#[test]
fn the_help_shows_the_configs_own_defaults() {
    let help = |command: &str| {
        let output = ssdface_within(60, &[command, "--help"]);
        common::assert_success(&output, command);
        String::from_utf8(output.stdout).unwrap()
    };
    let train = help("train");
    let config = ssdface::train::TrainConfig::new();
    for (flag, value) in [
        ("--epochs", config.epochs.to_string()),
        ("--batch-size", config.batch_size.to_string()),
        ("--lr", config.learning_rate.to_string()),
        ("--weight-decay", config.weight_decay.to_string()),
        ("--match-iou", config.match_iou.to_string()),
        ("--location-weight", config.box_loss_weight().to_string()),
        ("--giou-weight", config.giou_loss_weight().to_string()),
        ("--min-face-size", config.min_face_size.to_string()),
        (
            "--negatives-per-positive",
            config.negatives_per_positive.to_string(),
        ),
        ("--workers", config.workers.to_string()),
        ("--keep-checkpoints", config.checkpoints_kept().to_string()),
        ("--seed", config.seed.to_string()),
    ] {
        assert_eq!(help_default(&train, flag), value, "train {flag}");
    }
    let detect = help("detect");
    let nms = NmsConfig::default();
    for (flag, value) in [
        ("--score-threshold", nms.score_threshold.to_string()),
        ("--iou-threshold", nms.iou_threshold.to_string()),
        ("--top-k", nms.top_k.to_string()),
        ("--max-faces", nms.max_detections.to_string()),
    ] {
        assert_eq!(help_default(&detect, flag), value, "detect {flag}");
    }
}
