//! Training end to end on real photos: a tiny run that must overfit, and resuming a run that
//! was killed mid-epoch.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burn::config::Config;
use burn::prelude::*;
use ssdface::boxes::NmsConfig;
use ssdface::data::FaceDataset;
use ssdface::detector::Detector;
use ssdface::eval::evaluate;
use ssdface::train::{BEST_WEIGHTS, CONFIG_FILE, History, LAST_WEIGHTS, RunOutput, TrainConfig};
use ssdface::weights;

#[test]
fn a_tiny_run_overfits_and_then_finds_its_faces() {
    let run = common::scratch("overfit_run");
    let humanfaces = common::data_dir().join("humanfaces");
    let report = common::train_tiny(&run);
    let epochs = &report.history.epochs;
    assert!(
        epochs.len() >= 10,
        "stopped after {} epochs: {:?}",
        epochs.len(),
        report.stopped
    );
    let (first, last) = (epochs[0].train_loss, epochs.last().unwrap().train_loss);
    assert!(
        last <= first / 2.0,
        "training loss went from {first} to {last}"
    );

    // The last epoch's f16 weights, at the command line's default threshold.
    let bytes = std::fs::read(run.join(LAST_WEIGHTS)).unwrap();
    let detector = Detector::from_weights(&bytes, Device::flex())
        .unwrap()
        .with_nms(NmsConfig::default());
    let dataset = FaceDataset::open(&[humanfaces]).unwrap().truncated(4);
    let (report, _) = evaluate(&detector, &dataset, 0.5, |_| {}).unwrap();
    let all = &report.results[0];
    assert!(
        all.ap >= 0.8 && all.recall >= 0.8,
        "on its own training images: {report}"
    );

    // A new run started from those weights (`train --init`) begins where they are, even with
    // a top-down path the file lacks (it starts at zero): after one epoch at a negligible
    // learning rate it finds the faces as well (from a random start one epoch scores about 0).
    let continued = common::scratch("overfit_run_init");
    let data = ssdface::train::RunData {
        init: Some(run.join(LAST_WEIGHTS)),
        ..common::tiny_data()
    };
    let config = common::tiny_config()
        .with_epochs(1)
        .with_learning_rate(1e-7);
    let config = config
        .clone()
        .with_model(config.model.with_top_down_levels(Some(1)));
    let report = ssdface::train::start(
        &continued,
        &config,
        &data,
        vec![Device::flex()],
        None,
        RunOutput::silent(),
    )
    .unwrap();
    let first = &report.history.epochs[0];
    assert!(
        first.val_ap >= 0.8,
        "epoch 1 from the weights: AP {}",
        first.val_ap
    );
    // Weights of another network are refused, naming the file.
    let other = common::tiny_config().with_model(
        ssdface::model::SsdConfig::new()
            .at_input_size(160, 120)
            .unwrap()
            .with_width_multiplier(0.25),
    );
    let error = ssdface::train::start(
        &common::scratch("overfit_run_init_other"),
        &other,
        &data,
        vec![Device::flex()],
        None,
        RunOutput::silent(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("last.ssdface"), "{error}");
}

#[test]
fn training_runs_data_parallel_over_two_devices() {
    // Two handles to the CPU stand in for two GPUs: burn-train's multi-device strategy runs a
    // batch on each and applies their gradients on the first.
    let run = common::scratch("two_devices");
    let config = common::tiny_config().with_epochs(6);
    let report = ssdface::train::start(
        &run,
        &config,
        &common::tiny_data(),
        vec![Device::flex(); 2],
        None,
        RunOutput::silent(),
    )
    .unwrap();
    let epochs = &report.history.epochs;
    assert_eq!(epochs.len(), 6, "{:?}", report.stopped);
    let (first, last) = (epochs[0].train_loss, epochs[5].train_loss);
    assert!(
        last.is_finite() && last < first,
        "training loss went from {first} to {last}"
    );
    assert!(run.join(LAST_WEIGHTS).is_file());
}

fn run_history(run: &Path) -> History {
    History::load(run).unwrap()
}

fn ssdface() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssdface"))
}

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--data",
        data,
        "--val",
        data,
        "--out",
        out,
        "--max-images",
        "12",
        "--epochs",
        "3",
        "--batch-size",
        "4",
        "--input-size",
        "160x120",
        "--workers",
        "0",
    ]
}

#[test]
fn a_run_killed_mid_epoch_resumes_to_the_same_result() {
    let dir = common::scratch("resume_run");
    let data = common::data_dir().join("humanfaces");
    let data = data.to_str().unwrap();
    let (straight, killed) = (dir.join("straight"), dir.join("killed"));

    let status = ssdface()
        .args(train_args(data, straight.to_str().unwrap()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    // Kill the second run once it is inside epoch 2 (epoch 1's history written, 2's not).
    let mut child = ssdface()
        .args(train_args(data, killed.to_str().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while run_history(&killed).epochs.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "epoch 1 never finished"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // The history names epoch 1 only once its checkpoint is whole, and epoch 2 has just begun.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        run_history(&killed).epochs.len(),
        1,
        "killed inside epoch 2"
    );

    let status = ssdface()
        .args(["train", "--resume", killed.to_str().unwrap()])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let (a, b) = (run_history(&straight), run_history(&killed));
    assert_eq!(a.epochs.len(), 3);
    assert_eq!(b.epochs.len(), 3);
    for (x, y) in a.epochs.iter().zip(&b.epochs) {
        // Same data order, augmentation and initial weights; float sums in another order
        // may differ in the last bits.
        for (name, p, q) in [
            ("train loss", x.train_loss, y.train_loss),
            ("val loss", x.val_loss, y.val_loss),
            ("learning rate", x.learning_rate, y.learning_rate),
        ] {
            assert!(
                (p - q).abs() <= 1e-3 * p.abs().max(1.0),
                "epoch {}: {name} {p} straight vs {q} resumed",
                x.epoch
            );
        }
    }
    // The resumed run's weights load and are for the configured network.
    let (config, _) = weights::load_file(&killed.join(BEST_WEIGHTS), &Device::flex()).unwrap();
    assert_eq!((config.input_width, config.input_height), (160, 120));
}

#[test]
fn settings_and_data_that_cannot_train_are_refused() {
    let dir = common::scratch("refused_runs");
    let humanfaces = common::data_dir().join("humanfaces");

    // A resumed run whose saved settings were edited to a batch of 0.
    let run = dir.join("edited");
    std::fs::create_dir_all(&run).unwrap();
    TrainConfig::new()
        .with_batch_size(0)
        .save(run.join(ssdface::train::CONFIG_FILE))
        .unwrap();
    let data = ssdface::train::RunData {
        train: vec![humanfaces.clone()],
        val: humanfaces.clone(),
        max_images: Some(4),
        init: None,
    };
    std::fs::write(run.join("data.json"), serde_json::to_string(&data).unwrap()).unwrap();
    let output = ssdface()
        .args(["train", "--resume", run.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_refused(
        &output,
        "batch_size must be from 1 to 1024, got 0",
        "batch 0",
    );
    // A setting given with --resume would be ignored, the run's own applying: refused.
    let output = ssdface()
        .args(["train", "--resume", run.to_str().unwrap(), "--epochs", "9"])
        .output()
        .unwrap();
    common::assert_refused(
        &output,
        "the argument '--resume <DIR>' cannot be used with '--epochs <N>'",
        "--epochs with --resume",
    );

    // Augmentation settings that name only some of the fields.
    let partial_augment = dir.join("partial-augment.json");
    std::fs::write(&partial_augment, r#"{"flip": 0.5}"#).unwrap();
    let partial_augment = partial_augment.to_str().unwrap();
    // A network config with no working network.
    let invalid_model = dir.join("invalid-model.json");
    ssdface::model::SsdConfig::new()
        .with_width_multiplier(-1.0)
        .save(&invalid_model)
        .unwrap();
    let invalid_model = invalid_model.to_str().unwrap();

    // Options no run can train with: (arguments, the error, what it is).
    let refused_options: [(&[&str], &str, &str); 9] = [
        (
            &["--model", invalid_model],
            "width_multiplier must be positive and finite",
            "invalid network config",
        ),
        // A top-down path above the coarsest level, which has nothing coarser to take from.
        (
            &["--top-down-levels", "4"],
            "top_down_levels must be fewer than the detection levels, got 4",
            "top-down levels",
        ),
        (
            &["--context-levels", "5"],
            "context_levels must be at most the detection levels, got 5",
            "context levels",
        ),
        (
            &["--augment", partial_augment],
            "not augmentation settings: Config error => Invalid format: missing field",
            "partial augmentation settings",
        ),
        (
            &["--weight-decay", "2"],
            "weight_decay must be from 0 to 1, got 2",
            "weight decay",
        ),
        (
            &["--min-face-size=-2"],
            "min_face_size must be 0 or more, got -2",
            "negative face size",
        ),
        (
            &["--giou-weight=-1"],
            "giou_weight must be from 0 to 100, got -1",
            "negative GIoU weight",
        ),
        // One checkpoint kept would leave nothing to resume from after a kill mid-save.
        (
            &["--keep-checkpoints", "1"],
            "keep_checkpoints must be at least 2, got 1",
            "one checkpoint kept",
        ),
        // Hard-negative mining that takes no background prior.
        (
            &["--negatives-per-positive", "0"],
            "negatives_per_positive must be at least 1, got 0",
            "no negatives",
        ),
    ];
    for (options, error, what) in refused_options {
        let output = ssdface()
            .args(train_args(
                humanfaces.to_str().unwrap(),
                dir.join("no-run").to_str().unwrap(),
            ))
            .args(options)
            .output()
            .unwrap();
        common::assert_refused(&output, error, what);
    }

    // A labels file that lists no image: nothing to train on is an error, not a finished run.
    let empty = dir.join("empty");
    std::fs::create_dir_all(empty.join("images")).unwrap();
    std::fs::write(empty.join("labels.txt"), "").unwrap();
    let out = dir.join("empty-run");
    let output = ssdface()
        .args(["train", "--data", empty.to_str().unwrap()])
        .args([
            "--val",
            humanfaces.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    common::assert_refused(&output, "no training images", "empty labels");
    assert!(!out.join(BEST_WEIGHTS).exists());
    // Nothing of a run is left behind to block the corrected command.
    assert!(!out.join(ssdface::train::CONFIG_FILE).exists());
}

#[test]
fn train_model_option_trains_the_network_a_config_file_describes() {
    let dir = common::scratch("model_option");
    let humanfaces = common::data_dir().join("humanfaces");
    let wider = ssdface::model::SsdConfig::new()
        .at_input_size(160, 120)
        .unwrap()
        .with_width_multiplier(0.75);
    let file = dir.join("wider.json");
    wider.save(&file).unwrap();
    let run = dir.join("run");
    let output = ssdface()
        .args(train_args(
            humanfaces.to_str().unwrap(),
            run.to_str().unwrap(),
        ))
        .args(["--model", file.to_str().unwrap()])
        .output()
        .unwrap();
    common::assert_success(&output, "train --model");
    let bytes = std::fs::read(run.join(LAST_WEIGHTS)).unwrap();
    assert_eq!(weights::read_config(&bytes).unwrap(), wider);
}

#[test]
fn keep_checkpoints_keeps_every_epoch_asked_for() {
    let dir = common::scratch("keep_checkpoints");
    let humanfaces = common::data_dir().join("humanfaces");
    let run = dir.join("run");
    let mut args = train_args(humanfaces.to_str().unwrap(), run.to_str().unwrap());
    let epochs = args.iter().position(|a| *a == "--epochs").unwrap() + 1;
    args[epochs] = "4";
    let output = ssdface()
        .args(args)
        .args(["--keep-checkpoints", "4"])
        .output()
        .unwrap();
    common::assert_success(&output, "train --keep-checkpoints 4");
    // The default keeps the newest two and the best: at most three of the four.
    for epoch in 1..=4 {
        let file = run.join("checkpoint").join(format!("model-{epoch}.bpk"));
        assert!(file.is_file(), "{} was removed", file.display());
    }
    // Saved with the run, so that a resumed run keeps as many.
    let saved = TrainConfig::load(run.join(CONFIG_FILE)).unwrap();
    assert_eq!(saved.keep_checkpoints, Some(4));
}

/// The first `keep(length)` bytes of the file at `path`, as a kill or a full disk would leave
/// it.
fn truncate(path: &Path, keep: fn(usize) -> usize) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..keep(bytes.len())]).unwrap();
}

#[test]
fn damaged_runs_resume_from_their_newest_intact_checkpoint() {
    let run = common::scratch("damaged_run");
    let data = common::data_dir().join("humanfaces");
    let output = ssdface()
        .args(train_args(data.to_str().unwrap(), run.to_str().unwrap()))
        .output()
        .unwrap();
    common::assert_success(&output, "ssdface train");
    let resume = || {
        ssdface()
            .args(["train", "--resume", run.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let checkpoint = |kind: &str| run.join(format!("checkpoint/{kind}-3.bpk"));

    // A cut model, optimiser or scheduler file of the last epoch: that epoch is trained again
    // from the one before it, with a warning, not a panic. Leftovers of interrupted writes go.
    // The scheduler's record is a few scalars followed by padding: cut into its metadata.
    let half: fn(usize) -> usize = |n| n / 2;
    for (kind, named, keep) in [
        ("model", "model", half),
        ("optim", "optimiser", half),
        ("scheduler", "scheduler", |_| 40),
    ] {
        let leftover = run.join("history.json.tmp4242");
        std::fs::write(&leftover, vec![0u8; 4096]).unwrap();
        truncate(&checkpoint(kind), keep);
        let output = resume();
        common::assert_success(&output, "ssdface train --resume");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("checkpoint of epoch 3 unusable ({named}"))
                && stderr.contains("resuming from the newest intact checkpoint: epoch 2"),
            "{stderr}"
        );
        assert_eq!(run_history(&run).epochs.len(), 3);
        assert!(!leftover.exists(), "the temporary file is removed");
    }

    // Without its history the checkpoints cannot be continued: an error, not a fresh start.
    std::fs::remove_file(run.join("history.json")).unwrap();
    let output = resume();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("missing, though the run has checkpoints"),
        "{stderr}"
    );
}

/// `tools/gpu_run.sh dry`: the GPU machine's cycle on this machine's CPU (the long run's photos
/// packed small, the run resumed from its committed state in a copy of the checkout, its new
/// state brought back), so that the one call a lent GPU allows works the first time.
#[test]
fn the_gpu_cycle_continues_the_committed_long_run() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = History::load(&repo.join("models/runs/long-1"))
        .unwrap()
        .epochs
        .last()
        .map_or(0, |epoch| epoch.epoch);
    let output = Command::new("bash")
        .args(["tools/gpu_run.sh", "dry"])
        .current_dir(repo)
        .env("SSDFACE_BIN", env!("CARGO_BIN_EXE_ssdface"))
        .output()
        .unwrap();
    common::assert_success(&output, "tools/gpu_run.sh dry");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let epochs = stdout
        .lines()
        .find_map(|line| line.split_once(": epochs "))
        .map(|(_, epochs)| epochs.to_string())
        .unwrap_or_else(|| panic!("no epochs line in:\n{stdout}"));
    let (from, to) = epochs.split_once(" -> ").unwrap();
    assert_eq!(from.parse::<usize>().unwrap(), committed, "{stdout}");
    assert!(to.parse::<usize>().unwrap() > committed, "{stdout}");
    assert!(stdout.contains("packed"), "{stdout}");
}
