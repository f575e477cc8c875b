//! The other backends against the CPU one (flex), on the same weights and the same batch:
//! LibTorch (PyTorch's CPU kernels; `source ./libtorch.sh` before building) and wgpu, which
//! here runs on Mesa's software Vulkan driver, lavapipe (`.ci/run` installs it), standing in
//! for a GPU. Training steps give the same loss and gradients, and detection the same faces,
//! through the library and through the command line's `--backend`.

mod common;

use burn::module::{ModuleVisitor, Param};
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::{DeviceKind, Gradients};
use ssdface::data::FaceDataset;
use ssdface::default_model::DEFAULT_WEIGHTS;
use ssdface::detector::Detector;
use ssdface::model::SsdConfig;
use ssdface::photo::{DEFAULT_MAX_PIXELS, read_upright};
use ssdface::preprocess::{ImageView, PixelFormat};
use ssdface::train::{
    AugmentConfig, AugmentedDataset, DetectionBatch, DetectionBatcher, TrainConfig, TrainingModel,
};

/// A photo of the mask set's `val/`, upright.
fn val_photo(name: &str) -> image::RgbImage {
    read_upright(&common::val_image(name), DEFAULT_MAX_PIXELS).unwrap()
}

/// The detector's view of `photo`'s pixels.
fn rgb_view(photo: &image::RgbImage) -> ImageView<'_> {
    ImageView::new(
        photo.as_raw(),
        photo.width(),
        photo.height(),
        PixelFormat::Rgb,
    )
    .unwrap()
}

/// Held by each test that runs on wgpu. When two such tests shared the (software) device at
/// once, the GIoU step's gradients on wgpu parted from Flex's by 2-70 % of their scale in
/// some runs (in about a third of the runs of this file); one at a time, they agree to
/// rounding.
fn one_wgpu_test_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static WGPU: std::sync::Mutex<()> = std::sync::Mutex::new(());
    WGPU.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The backends compared with flex.
fn backends() -> Vec<(&'static str, Device)> {
    // burn marks LibTorch deprecated; it is the backend under test here.
    #[allow(deprecated)]
    let libtorch = Device::libtorch();
    vec![
        ("libtorch", libtorch),
        // The only adapter here is lavapipe, a CPU one.
        ("wgpu", Device::wgpu(DeviceKind::Cpu)),
    ]
}

/// A small input keeps the software GPU quick; the network is the default one.
fn model_config() -> SsdConfig {
    SsdConfig::new().at_input_size(160, 120).unwrap()
}

/// Two humanfaces photos as one batch on `device`, without augmentation.
fn batch(device: &Device) -> DetectionBatch {
    let config = model_config();
    let images = FaceDataset::open(&[common::data_dir().join("humanfaces")])
        .unwrap()
        .truncated(2);
    let dataset = AugmentedDataset::new(
        images,
        AugmentConfig::none(),
        config.clone(),
        TrainConfig::new().target_rules(),
        0,
        false,
        0,
    );
    let items = (0..2)
        .map(|i| burn::data::dataset::Dataset::get(&dataset, i).unwrap())
        .collect();
    burn::data::dataloader::batcher::Batcher::batch(&DetectionBatcher::new(&config), items, device)
}

/// Every parameter's gradient, in module order, as plain numbers.
struct GradientValues<'a> {
    grads: &'a Gradients,
    values: Vec<Vec<f32>>,
}

impl ModuleVisitor for GradientValues<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = param.val().grad(self.grads) {
            self.values
                .push(grad.into_data().try_into_vec::<f32>().unwrap());
        }
    }
}

/// The loss before each of `steps` SGD steps from `model`, and the gradients of the first.
/// (SGD rather than training's Adam: Adam scales every gradient to about the learning rate,
/// rounding noise included, so two backends' runs part faster than their arithmetic does.)
fn train(mut model: TrainingModel, device: &Device, steps: usize) -> (Vec<f32>, Vec<Vec<f32>>) {
    let mut optimizer = SgdConfig::new().init();
    let mut losses = Vec::new();
    let mut first_grads = Vec::new();
    for step in 0..steps {
        let batch = batch(device);
        let output = model.ssd.forward(batch.images);
        let loss = model.loss(output, batch.labels, batch.offsets).total;
        losses.push(loss.clone().into_scalar::<f32>());
        let grads = loss.backward();
        if step == 0 {
            let mut visitor = GradientValues {
                grads: &grads,
                values: Vec::new(),
            };
            model.visit(&mut visitor);
            first_grads = visitor.values;
        }
        let grads = GradientsParams::from_grads(grads, &model);
        model = optimizer.step(1e-3, model, grads);
    }
    (losses, first_grads)
}

fn largest_magnitude(values: &[f32]) -> f32 {
    values.iter().fold(0f32, |m, v| m.max(v.abs()))
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn training_steps_on_each_backend_equal_flex() {
    compare_training_steps(TrainConfig::new().with_model(model_config()), 3);
}

/// The generalised-IoU term's min/max choices route a gradient one way or the other where two
/// sides tie, so runs part sooner with it: one step, its loss and gradients, is compared.
#[test]
fn a_training_step_with_the_giou_term_on_each_backend_equals_flex() {
    let config = TrainConfig::new()
        .with_model(model_config())
        .with_giou_weight(Some(2.0));
    compare_training_steps(config, 1);
}

/// `steps` SGD steps of the network of `config` from one fixed start on flex and on each other
/// backend: the same losses and the same first gradients.
fn compare_training_steps(config: TrainConfig, steps: usize) {
    let _one_at_a_time = one_wgpu_test_at_a_time();
    let flex = Device::flex().autodiff();
    // A fixed start: how far two backends' runs part depends on the weights.
    flex.seed(1);
    let model = TrainingModel::new(&config, &flex).unwrap();
    let (flex_losses, flex_grads) = train(model.clone(), &flex, steps);
    assert!(flex_losses.iter().all(|l| l.is_finite() && *l > 0.0));
    assert!(!flex_grads.is_empty(), "no gradients");
    assert!(
        steps == 1 || flex_losses[steps - 1] < flex_losses[0],
        "flex losses {flex_losses:?} do not fall"
    );
    for (name, device) in backends() {
        let device = device.autodiff();
        let (losses, grads) = train(model.clone().fork(&device), &device, steps);
        for (step, (a, b)) in flex_losses.iter().zip(&losses).enumerate() {
            assert!(
                (a - b).abs() <= 2e-3 * a.abs(),
                "{name}: loss after {step} steps {b}, flex {a}"
            );
        }
        assert_eq!(grads.len(), flex_grads.len(), "{name}: gradients");
        // Gradients that batch norm cancels (biases before it) are rounding noise near zero;
        // their differences count against the largest gradient's scale.
        let floor = 1e-4
            * flex_grads
                .iter()
                .map(|g| largest_magnitude(g))
                .fold(0f32, f32::max);
        for (i, (a, b)) in flex_grads.iter().zip(&grads).enumerate() {
            let diff = largest_difference(a, b) / largest_magnitude(a).max(floor);
            assert!(
                diff <= 2e-2,
                "{name}: gradient {i} differs by {diff} of its scale"
            );
        }
    }
}

#[test]
fn detection_on_each_backend_equals_flex() {
    let _one_at_a_time = one_wgpu_test_at_a_time();
    let photo = val_photo("maksssksksss10.jpg");
    let view = rgb_view(&photo);
    let faces_on = |device: Device| {
        Detector::from_weights(DEFAULT_WEIGHTS, device)
            .unwrap()
            .detect(&view)
            .unwrap()
    };
    let expected = faces_on(Device::flex());
    assert!(!expected.is_empty(), "no face on flex");
    for (name, device) in backends() {
        let faces = faces_on(device);
        assert_eq!(
            faces.len(),
            expected.len(),
            "{name}: {faces:?} vs {expected:?}"
        );
        for (a, b) in expected.iter().zip(&faces) {
            let box_diff = [a.x - b.x, a.y - b.y, a.width - b.width, a.height - b.height]
                .iter()
                .fold(0f32, |m, d| m.max(d.abs()));
            assert!(
                box_diff <= 0.5 && (a.score - b.score).abs() <= 1e-3,
                "{name}: {b:?} vs flex {a:?}"
            );
        }
    }
}

/// `ssdface ARGS`, which must succeed; its standard output.
fn ssdface(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ssdface"))
        .args(args)
        .output()
        .unwrap();
    common::assert_success(&output, &format!("ssdface {}", args.join(" ")));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_command_line_trains_and_detects_on_each_backend() {
    let humanfaces = common::data_dir().join("humanfaces");
    let photo = common::val_image("maksssksksss10.jpg");
    let bundled = common::repo_root().join("models/default-320.ssdface");
    // One step on two photos from the bundled weights: the step's loss is the loss of those
    // weights, the same on every backend.
    let first_loss = |backend: &str| {
        let run = common::scratch(&format!("cli_train_{backend}"));
        ssdface(&[
            "train",
            "--backend",
            backend,
            "--data",
            humanfaces.to_str().unwrap(),
            "--val",
            humanfaces.to_str().unwrap(),
            "--max-images",
            "2",
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--no-augment",
            "--init",
            bundled.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(
            run.join(ssdface::train::LAST_WEIGHTS).is_file(),
            "{backend}: no weights"
        );
        let history = ssdface::train::History::load(&run).unwrap();
        history.epochs[0].train_loss
    };
    let faces = |backend: &str| -> serde_json::Value {
        let json = ssdface(&["detect", "--backend", backend, photo.to_str().unwrap()]);
        serde_json::from_str::<serde_json::Value>(&json).unwrap()[0]["faces"].clone()
    };
    let (flex_loss, flex_faces) = (first_loss("cpu"), faces("cpu"));
    assert!(!flex_faces.as_array().unwrap().is_empty());
    for backend in ["libtorch", "wgpu"] {
        let loss = first_loss(backend);
        assert!(
            (loss - flex_loss).abs() <= 1e-3 * flex_loss,
            "{backend}: training loss {loss}, cpu {flex_loss}"
        );
        let got = faces(backend);
        let (got, want) = (got.as_array().unwrap(), flex_faces.as_array().unwrap());
        assert_eq!(got.len(), want.len(), "{backend}: {got:?} vs cpu {want:?}");
        for (a, b) in want.iter().zip(got) {
            for (key, tolerance) in [
                ("x", 0.5),
                ("y", 0.5),
                ("width", 0.5),
                ("height", 0.5),
                ("score", 1e-3),
            ] {
                let (a, b) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
                assert!((a - b).abs() <= tolerance, "{backend}: {key} {b}, cpu {a}");
            }
        }
    }
}

/// Detection on Flex runs the crate's inference kernels (batch norm folded once, the bias and
/// ReLU6 applied inside the convolutions); on LibTorch it runs burn's operations (convolution
/// with bias, then a clamp). On real photos, the face score of every prior must agree to
/// rounding (the decoded faces are compared by `detection_on_each_backend_equals_flex`).
#[test]
fn the_fused_inference_kernels_equal_burns_operations_on_photos() {
    /// Largest difference allowed between the two paths' face scores, on any prior.
    const SCORE_TOLERANCE: f32 = 1e-4;
    #[allow(deprecated)]
    let libtorch = Device::libtorch();
    let flex = Device::flex();
    let (config, model) = ssdface::weights::from_bytes(DEFAULT_WEIGHTS, &flex).unwrap();
    let (_, unfused) = ssdface::weights::from_bytes(DEFAULT_WEIGHTS, &libtorch).unwrap();
    let fused = model.folded();
    let scores = |model: &ssdface::model::Ssd, input: Tensor<4>| -> Vec<f32> {
        let logits = model.forward(input).logits;
        burn::tensor::activation::softmax(logits, 2)
            .narrow(2, 1, 1)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    let mut largest = 0f32;
    for name in [
        "maksssksksss1.jpg",
        "maksssksksss10.jpg",
        "maksssksksss111.jpg",
    ] {
        let photo = val_photo(name);
        let view = rgb_view(&photo);
        let input = ssdface::preprocess::to_input_tensor(&view, &config, &flex);
        let expected = scores(&unfused, input.clone().to_device(&libtorch));
        let actual = scores(&fused, input);
        let difference = largest_difference(&actual, &expected);
        assert!(
            difference <= SCORE_TOLERANCE,
            "{name}: face scores differ by up to {difference}"
        );
        largest = largest.max(difference);
    }
    println!("largest face-score difference, fused (flex) vs unfused (libtorch): {largest:.2e}");
}
