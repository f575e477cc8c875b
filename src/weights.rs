//! Trained weights on disk and in memory.
//!
//! A weights file is the network's [`SsdConfig`] followed by burn's burnpack record of its
//! parameters, so a file always says which network it fits:
//!
//! ```text
//! b"SSDFACE\0"  u32 LE format version  u32 LE config length  config JSON  burnpack bytes
//! ```
//!
//! Parameters are stored in f32 or f16 ([`Precision`]); loading casts them back to the
//! module's f32 either way.
//!
//! ```
//! use burn::prelude::*;
//! use ssdface::{model::SsdConfig, weights};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = Device::flex();
//! let config = SsdConfig::new();
//! let model = config.init(&device)?;
//! let path = std::env::temp_dir().join("model.ssdface");
//! weights::save_file(&model, &config, weights::Precision::Half, &path)?;
//! let (config, model) = weights::load_file(&path, &device)?;
//! # assert_eq!(config, SsdConfig::new());
//! # Ok(())
//! # }
//! ```

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};

use crate::model::{ConfigError, Ssd, SsdConfig};

const MAGIC: &[u8; 8] = b"SSDFACE\0";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = MAGIC.len() + 8;

/// Numeric precision of stored parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats: exact.
    Full,
    /// 16-bit floats: half the size, within about 1e-3 relative of f32.
    Half,
}

/// Why weights could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The bytes do not start like an ssdface weights file.
    #[error("not an ssdface weights file (it does not start with the SSDFACE header)")]
    NotWeights,
    /// A file written by a newer ssdface.
    #[error(
        "weights file format version {found} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    Version {
        /// Version in the file.
        found: u32,
    },
    /// The file ends before its declared contents.
    #[error("weights file is truncated: {0}")]
    Truncated(&'static str),
    /// The embedded config is not valid JSON for [`SsdConfig`].
    #[error("weights file holds an unreadable network config: {0}")]
    Config(String),
    /// The embedded config describes no working network.
    #[error("weights file holds an invalid network config: {0}")]
    InvalidConfig(#[from] ConfigError),
    /// The parameters do not fit the network their config describes, or are not a record.
    #[error("weights do not fit the network described by their config: {0}")]
    Record(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Some parameters are NaN or infinite: the file detects nothing (it comes from a training
    /// run that diverged, or it is damaged).
    #[error(
        "weights hold {count} parameter values that are not finite numbers (NaN or infinite): they come from a training run that diverged, or the file is damaged"
    )]
    NotFinite {
        /// How many values.
        count: usize,
    },
    /// The weights are for another network than the one asked for.
    #[error("weights are for another network: {0}")]
    Mismatch(String),
    /// Reading or writing the file failed. (Its message leaves the file's name to the caller,
    /// which says what the file was for.)
    #[error("cannot {action} the file")]
    Io {
        /// The file.
        path: String,
        /// "read" or "write".
        action: &'static str,
        /// The failure.
        source: std::io::Error,
    },
}

/// Serialise a model and its config.
pub fn to_bytes(
    model: &Ssd,
    config: &SsdConfig,
    precision: Precision,
) -> Result<Vec<u8>, WeightsError> {
    let model = match precision {
        Precision::Full => model.clone(),
        Precision::Half => model.clone().map(&mut CastFloats(DType::F16)),
    };
    let record = model
        .into_record()
        .into_bytes()
        .map_err(|e| WeightsError::Record(e.into()))?;
    let config_json = serde_json_string(config);
    let mut bytes = Vec::with_capacity(HEADER_LEN + config_json.len() + record.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(config_json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(config_json.as_bytes());
    bytes.extend_from_slice(&record);
    Ok(bytes)
}

/// Read the config from weights bytes and build the model they fit, on `device`.
pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<(SsdConfig, Ssd), WeightsError> {
    let (config, record) = split(bytes)?;
    let model = load_record(&config, record, false, device)?;
    Ok((config, model))
}

/// Like [`from_bytes`], but the weights must be for the network `expected` describes (the
/// input size may differ: it changes no parameter). `expected` may have more top-down paths
/// than the file: those start at zero, so the network detects exactly as the file's does
/// until training moves them.
pub fn from_bytes_for(
    bytes: &[u8],
    expected: &SsdConfig,
    device: &Device,
) -> Result<Ssd, WeightsError> {
    let (found, record) = split(bytes)?;
    let differences = architecture_differences(expected, &found);
    if !differences.is_empty() {
        return Err(WeightsError::Mismatch(differences.join("; ")));
    }
    let grows = growable_parts(expected)
        .into_iter()
        .zip(growable_parts(&found))
        .any(|((_, wanted), (_, stored))| wanted > stored);
    load_record(expected, record, grows, device)
}

/// The network `config` describes on `device`, with the parameters of a burnpack `record`, all
/// of them finite. With `allow_missing`, parameters the record lacks keep their initial values;
/// every parameter the record has must still land.
fn load_record(
    config: &SsdConfig,
    record: &[u8],
    allow_missing: bool,
    device: &Device,
) -> Result<Ssd, WeightsError> {
    let load = |device: &Device| -> Result<Ssd, WeightsError> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record.to_vec()))
            .map_err(|e| WeightsError::Record(e.into()))?
            .cast_to_module_dtype()
            .allow_partial(allow_missing);
        config
            .init(device)?
            .try_load_record(record)
            .map_err(|e| WeightsError::Record(e.into()))
    };
    // The check reads every value, which a GPU device does only asynchronously (on WebGPU a
    // synchronous read panics): it runs on a copy on the plain CPU device, loaded apart (a few
    // milliseconds at this network's size), whatever `device` is (an autodiff device too).
    let mut non_finite = NonFinite::default();
    load(&Device::flex())?.visit(&mut non_finite);
    if non_finite.count > 0 {
        return Err(WeightsError::NotFinite {
            count: non_finite.count,
        });
    }
    load(device)
}

/// Save weights to a file atomically: a crash mid-write leaves the old file, never half a file.
#[cfg(not(target_family = "wasm"))]
pub fn save_file(
    model: &Ssd,
    config: &SsdConfig,
    precision: Precision,
    path: &std::path::Path,
) -> Result<(), WeightsError> {
    let bytes = to_bytes(model, config, precision)?;
    crate::files::atomic_write(path, &bytes).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        action: "write",
        source,
    })
}

/// Load weights from a file.
#[cfg(not(target_family = "wasm"))]
pub fn load_file(
    path: &std::path::Path,
    device: &Device,
) -> Result<(SsdConfig, Ssd), WeightsError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.display().to_string(),
        action: "read",
        source,
    })?;
    from_bytes(&bytes, device)
}

/// The config stored in weights bytes, without building the model.
pub fn read_config(bytes: &[u8]) -> Result<SsdConfig, WeightsError> {
    split(bytes).map(|(config, _)| config)
}

fn split(bytes: &[u8]) -> Result<(SsdConfig, &[u8]), WeightsError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(WeightsError::NotWeights);
    }
    if bytes.len() < HEADER_LEN {
        return Err(WeightsError::Truncated("header"));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let version = word(MAGIC.len());
    if version != FORMAT_VERSION {
        return Err(WeightsError::Version { found: version });
    }
    let config_len = word(MAGIC.len() + 4) as usize;
    let config_bytes = bytes
        .get(HEADER_LEN..HEADER_LEN + config_len)
        .ok_or(WeightsError::Truncated("network config"))?;
    let config =
        SsdConfig::load_binary(config_bytes).map_err(|e| WeightsError::Config(e.to_string()))?;
    config.validate()?;
    Ok((config, &bytes[HEADER_LEN + config_len..]))
}

fn serde_json_string(config: &SsdConfig) -> String {
    burn::config::config_to_json(config)
}

/// Fields that change parameter shapes or meaning, named where the weights `found` cannot
/// serve as the network `expected`.
fn architecture_differences(expected: &SsdConfig, found: &SsdConfig) -> Vec<String> {
    // Each field as text, so that fields of every type compare and print alike.
    let fields = |c: &SsdConfig| {
        [
            ("width_multiplier", c.width_multiplier.to_string()),
            ("stem_channels", c.stem_channels.to_string()),
            ("stages", format!("{:?}", c.stages)),
            ("extra_channels", format!("{:?}", c.extra_channels)),
            ("min_sizes", format!("{:?}", c.min_sizes)),
            ("aspect_ratios", format!("{:?}", c.aspect_ratios)),
            ("variances", format!("{:?}", c.variances)),
            (
                "pixel normalisation",
                format!("{}/{}", c.pixel_mean, c.pixel_std),
            ),
        ]
    };
    let mut differences: Vec<String> = fields(expected)
        .into_iter()
        .zip(fields(found))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((name, a), (_, b))| format!("{name}: expected {a}, file has {b}"))
        .collect();
    // Fewer of these parts than the file has would drop trained weights; more start at zero.
    let dropped = growable_parts(expected)
        .into_iter()
        .zip(growable_parts(found))
        .filter(|((_, wanted), (_, stored))| wanted < stored)
        .map(|((name, wanted), (_, stored))| {
            format!("{name}: expected {wanted}, file has {stored}")
        });
    differences.extend(dropped);
    differences
}

/// The optional parts a network can gain on top of trained weights, where they start at zero
/// (top-down paths, context blocks): each one's config field and count.
fn growable_parts(config: &SsdConfig) -> [(&'static str, usize); 2] {
    [
        ("top_down_levels", config.top_down_levels()),
        ("context_levels", config.context_levels()),
    ]
}

/// Counts the float values (running statistics included) that are NaN or infinite.
#[derive(Default)]
struct NonFinite {
    count: usize,
}

impl ModuleVisitor for NonFinite {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param.val().into_data().convert::<f32>();
        self.count += values.iter::<f32>().filter(|v| !v.is_finite()).count();
    }
}

/// Casts every float parameter (running statistics included) to one dtype.
struct CastFloats(DType);

impl ModuleMapper for CastFloats {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let dtype = self.0;
        param.map(|tensor| tensor.cast(dtype))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        let a = a.into_data().try_into_vec::<f32>().unwrap();
        let b = b.into_data().try_into_vec::<f32>().unwrap();
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    fn setup() -> (Device, SsdConfig, Ssd, Tensor<4>) {
        let device = Device::flex();
        let config = SsdConfig::new().at_input_size(160, 120).unwrap();
        let model = config.init(&device).unwrap();
        let input = Tensor::random(
            [1, 3, 120, 160],
            burn::tensor::Distribution::Uniform(-1.0, 1.0),
            &device,
        );
        (device, config, model, input)
    }

    /// Multiplies the `target`-th float tensor the mapper meets (running statistics count)
    /// by `factor`.
    struct ScaleOne {
        target: usize,
        seen: usize,
        factor: f32,
    }

    impl ModuleMapper for ScaleOne {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            self.seen += 1;
            if self.seen - 1 != self.target {
                return param;
            }
            let factor = self.factor;
            param.map(|tensor| tensor.mul_scalar(factor))
        }
    }

    #[test]
    fn weights_with_values_that_are_not_finite_are_refused() {
        let (device, config, model, _) = setup();
        let mut count = NonFinite::default();
        model.visit(&mut count);
        assert_eq!(count.count, 0, "a new network is finite");
        // The first float tensor the mapper meets and the last.
        let tensors = {
            let mut counter = ScaleOne {
                target: usize::MAX,
                seen: 0,
                factor: 1.0,
            };
            model.clone().map(&mut counter);
            counter.seen
        };
        for (target, factor) in [(0, f32::NAN), (tensors - 1, f32::INFINITY)] {
            let mut poison = ScaleOne {
                target,
                seen: 0,
                factor,
            };
            let poisoned = model.clone().map(&mut poison);
            let bytes = to_bytes(&poisoned, &config, Precision::Full).unwrap();
            let error = from_bytes(&bytes, &device).err();
            assert!(
                matches!(error, Some(WeightsError::NotFinite { count }) if count > 0),
                "tensor {target} times {factor}: {error:?}"
            );
            let error = from_bytes_for(&bytes, &config, &device).err();
            assert!(
                matches!(error, Some(WeightsError::NotFinite { .. })),
                "tensor {target} times {factor}, for a network: {error:?}"
            );
        }
    }

    #[test]
    fn weights_loaded_for_training_are_tracked_on_the_autodiff_device() {
        let (_, config, model, input) = setup();
        let bytes = to_bytes(&model, &config, Precision::Full).unwrap();
        let device = Device::flex().autodiff();
        let (_, loaded) = from_bytes(&bytes, &device).unwrap();
        let logits = loaded.forward(input.to_device(&device)).logits;
        assert!(
            logits.is_autodiff(),
            "the loaded network is not on the autodiff device"
        );
        let grads = logits.sum().backward();
        let mut with_grad = 0;
        loaded.visit(&mut CountGradients(&grads, &mut with_grad));
        assert!(with_grad > 0, "no parameter has a gradient");
    }

    /// Counts the float parameters that have a gradient.
    struct CountGradients<'a>(&'a burn::tensor::Gradients, &'a mut usize);

    impl ModuleVisitor for CountGradients<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.val().grad(self.0).is_some() {
                *self.1 += 1;
            }
        }
    }

    #[test]
    fn full_precision_round_trip_is_exact() {
        let (device, config, model, input) = setup();
        let before = model.forward(input.clone());
        let bytes = to_bytes(&model, &config, Precision::Full).unwrap();
        let (loaded_config, loaded) = from_bytes(&bytes, &device).unwrap();
        assert_eq!(loaded_config, config);
        let after = loaded.forward(input);
        assert_eq!(max_abs_diff(before.logits, after.logits), 0.0);
        assert_eq!(max_abs_diff(before.offsets, after.offsets), 0.0);
    }

    #[test]
    fn half_precision_round_trip_is_close_and_half_the_size() {
        let (device, config, model, input) = setup();
        let before = model.forward(input.clone());
        let full = to_bytes(&model, &config, Precision::Full).unwrap();
        let half = to_bytes(&model, &config, Precision::Half).unwrap();
        assert!(
            half.len() * 10 < full.len() * 6,
            "{} vs {} bytes",
            half.len(),
            full.len()
        );
        let (_, loaded) = from_bytes(&half, &device).unwrap();
        let after = loaded.forward(input);
        // f16 keeps 11 significant bits: outputs of order 1 move by a few 1e-3.
        let tolerance = 0.02;
        let logits = max_abs_diff(before.logits, after.logits);
        let offsets = max_abs_diff(before.offsets, after.offsets);
        assert!(
            logits > 0.0 && logits < tolerance,
            "logits differ by {logits}"
        );
        assert!(offsets < tolerance, "offsets differ by {offsets}");
    }

    #[test]
    fn wrong_bytes_are_errors_not_panics() {
        let (device, config, model, _) = setup();
        assert!(matches!(
            from_bytes(b"", &device),
            Err(WeightsError::NotWeights)
        ));
        assert!(matches!(
            from_bytes(b"{\"input_width\": 320}", &device),
            Err(WeightsError::NotWeights)
        ));
        let good = to_bytes(&model, &config, Precision::Full).unwrap();
        assert!(matches!(
            from_bytes(&good[..10], &device),
            Err(WeightsError::Truncated(_))
        ));
        let cut = from_bytes(&good[..good.len() / 2], &device);
        assert!(matches!(cut, Err(WeightsError::Record(_))), "{cut:?}");
        let mut newer = good.clone();
        newer[8] = 9;
        assert!(matches!(
            from_bytes(&newer, &device),
            Err(WeightsError::Version { found: 9 })
        ));
    }

    /// The header (config) of weights `header_from` followed by the record of `record_from`:
    /// a file whose config and parameters disagree.
    fn header_then_record(header_from: &[u8], record_from: &[u8]) -> Vec<u8> {
        let record_start = |bytes: &[u8]| {
            let (config, _) = split(bytes).unwrap();
            HEADER_LEN + serde_json_string(&config).len()
        };
        [
            &header_from[..record_start(header_from)],
            &record_from[record_start(record_from)..],
        ]
        .concat()
    }

    #[test]
    fn a_record_of_another_config_names_the_mismatch() {
        let (device, config, model, _) = setup();
        // Header of a wider network followed by this network's parameters.
        let wider = config.clone().with_width_multiplier(1.0);
        let bytes = to_bytes(&model, &config, Precision::Full).unwrap();
        let wider_header =
            to_bytes(&wider.init(&device).unwrap(), &wider, Precision::Full).unwrap();
        let forged = header_then_record(&wider_header, &bytes);
        let error = from_bytes(&forged, &device).unwrap_err().to_string();
        assert!(error.contains("do not fit"), "{error}");
        assert!(
            error.contains("shape"),
            "error should name the shape mismatch: {error}"
        );

        // Well-formed weights of another architecture, asked for as this one.
        let error = from_bytes_for(&wider_header, &config, &device)
            .expect_err("mismatch")
            .to_string();
        assert!(
            error.contains("width_multiplier: expected 0.5, file has 1"),
            "{error}"
        );
    }

    #[test]
    fn weights_grow_top_down_paths_and_context_blocks_that_start_at_zero_but_never_lose_them() {
        let (device, config, model, input) = setup();
        let bytes = to_bytes(&model, &config, Precision::Full).unwrap();
        let growths = [
            (
                config.clone().with_top_down_levels(Some(1)),
                "top_down_levels: expected 0, file has 1",
            ),
            (
                config.clone().with_context_levels(Some(1)),
                "context_levels: expected 0, file has 1",
            ),
        ];
        for (grown_config, refusal) in growths {
            let grown = from_bytes_for(&bytes, &grown_config, &device).unwrap();
            let (before, after) = (model.forward(input.clone()), grown.forward(input.clone()));
            assert_eq!(max_abs_diff(before.logits, after.logits), 0.0);
            assert_eq!(max_abs_diff(before.offsets, after.offsets), 0.0);

            let grown_bytes = to_bytes(&grown, &grown_config, Precision::Full).unwrap();
            let error = from_bytes_for(&grown_bytes, &config, &device)
                .expect_err("trained weights would be dropped")
                .to_string();
            assert!(error.contains(refusal), "{error}");
            // A file whose config promises parts its record lacks is refused.
            let forged = header_then_record(&grown_bytes, &bytes);
            let error = from_bytes(&forged, &device).unwrap_err().to_string();
            assert!(error.contains("Missing tensors"), "{error}");
        }
    }
}
