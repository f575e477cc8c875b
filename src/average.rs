//! Weight averaging: one network whose every parameter, batch-norm statistics included, is the
//! mean of several trained networks of the same architecture.
//!
//! Averaging the checkpoints of a run's last epochs smooths out the noise of the final steps
//! (the idea behind stochastic weight averaging); the result can score above each of them,
//! though not always.
//!
//! ```
//! use burn::prelude::*;
//! use ssdface::{average::average, model::SsdConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = Device::flex();
//! let config = SsdConfig::new();
//! let epochs = vec![config.init(&device)?, config.init(&device)?];
//! let mean = average(epochs)?;
//! # Ok(())
//! # }
//! ```

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::model::Ssd;

/// Why networks could not be averaged.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AverageError {
    /// No network was given.
    #[error("nothing to average: no networks given")]
    Empty,
    /// A network's parameters do not line up with the first one's.
    #[error("network {index} (counting from 0) does not fit the first one: {detail}")]
    Mismatch {
        /// Position of the network in the list.
        index: usize,
        /// The first difference found.
        detail: String,
    },
}

/// The parameter-wise mean of `models`, which must share one architecture.
pub fn average(models: Vec<Ssd>) -> Result<Ssd, AverageError> {
    let count = models.len();
    let mut models = models.into_iter();
    let mut sum = models.next().ok_or(AverageError::Empty)?;
    for (offset, model) in models.enumerate() {
        let mismatch = |detail| AverageError::Mismatch {
            index: offset + 1,
            detail,
        };
        let mut collected = CollectFloats::default();
        model.visit(&mut collected);
        let mut adder = AddInOrder {
            values: collected.values.into_iter(),
            position: 0,
            problem: None,
        };
        sum = sum.map(&mut adder);
        if let Some(problem) = adder.problem {
            return Err(mismatch(problem));
        }
        let extra = adder.values.len();
        if extra > 0 {
            return Err(mismatch(format!("it has {extra} more parameter tensors")));
        }
    }
    Ok(sum.map(&mut Scale(1.0 / count as f32)))
}

/// Every float parameter's values, in visiting order.
#[derive(Default)]
struct CollectFloats {
    values: Vec<TensorData>,
}

impl ModuleVisitor for CollectFloats {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.values.push(param.val().into_data());
    }
}

/// Adds the collected values, in the same visiting order, to each float parameter; the first
/// tensor that is missing or of another shape is recorded and left unchanged.
struct AddInOrder {
    values: std::vec::IntoIter<TensorData>,
    position: usize,
    problem: Option<String>,
}

impl ModuleMapper for AddInOrder {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.problem.is_some() {
            return param;
        }
        let position = self.position;
        self.position += 1;
        let Some(value) = self.values.next() else {
            self.problem = Some(format!("it has only {position} parameter tensors"));
            return param;
        };
        let shape = param.lazy_shape();
        if *value.shape() != shape {
            self.problem = Some(format!(
                "parameter tensor {position} has shape {:?}, the first network's {:?}",
                value.shape().as_slice(),
                shape.as_slice()
            ));
            return param;
        }
        param.map(|tensor| {
            let other = Tensor::from_data(value, &tensor.device());
            tensor + other
        })
    }
}

/// Multiplies every float parameter by one factor.
struct Scale(f32);

impl ModuleMapper for Scale {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let factor = self.0;
        param.map(|tensor| tensor * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SsdConfig;

    fn floats(model: &Ssd) -> Vec<Vec<f32>> {
        let mut collected = CollectFloats::default();
        model.visit(&mut collected);
        collected
            .values
            .into_iter()
            .map(|data| data.convert::<f32>().try_into_vec::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn every_parameter_is_the_mean_of_the_networks() {
        let device = Device::flex();
        let config = SsdConfig::new();
        let models: Vec<Ssd> = (0..3).map(|_| config.init(&device).unwrap()).collect();
        let inputs: Vec<_> = models.iter().map(floats).collect();
        assert_ne!(inputs[0], inputs[1], "random starts should differ");
        let mean = floats(&average(models).unwrap());
        assert_eq!(mean.len(), inputs[0].len());
        for (tensor, values) in mean.iter().enumerate() {
            for (i, &value) in values.iter().enumerate() {
                let expected = inputs.iter().map(|m| m[tensor][i]).sum::<f32>() / 3.0;
                assert!(
                    (value - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
                    "tensor {tensor} value {i}: {value} instead of {expected}"
                );
            }
        }
    }

    #[test]
    fn one_network_averages_to_itself() {
        let device = Device::flex();
        let model = SsdConfig::new().init(&device).unwrap();
        let before = floats(&model);
        assert_eq!(floats(&average(vec![model]).unwrap()), before);
    }

    #[test]
    fn no_networks_and_other_architectures_are_refused() {
        let device = Device::flex();
        assert_eq!(average(Vec::new()).unwrap_err(), AverageError::Empty);
        let small = SsdConfig::new().init(&device).unwrap();
        let wide = SsdConfig::new()
            .with_width_multiplier(2.0)
            .init(&device)
            .unwrap();
        match average(vec![small, wide]).err() {
            Some(AverageError::Mismatch { index: 1, .. }) => {}
            other => panic!("expected a mismatch at network 1, got {other:?}"),
        }
    }
}
