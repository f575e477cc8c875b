//! Host memory of the CPU backends the kernels run on: their f32 tensors as slices, and slices
//! back as tensors.

use std::ops::Deref;

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::tensor::{Bytes, DType, Shape};

/// A CPU backend whose f32 tensors the kernels read as slices.
pub trait HostMemory: burn::backend::Backend {
    /// A tensor's values in row-major order, borrowed where the backend allows it.
    type Values: Deref<Target = [f32]>;

    /// The tensor's values, made contiguous first if they are not.
    fn values(tensor: FloatTensor<Self>) -> Self::Values;

    /// A tensor of `shape` holding `values` (row-major).
    fn from_values(values: Vec<f32>, shape: Shape) -> FloatTensor<Self>;

    /// The tensor's shape.
    fn shape(tensor: &FloatTensor<Self>) -> Shape;
}

/// A contiguous f32 Flex tensor (its storage is shared, not copied).
pub struct FlexValues(FlexTensor);

impl Deref for FlexValues {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        self.0
            .as_slice::<f32>()
            .expect("the kernels run on contiguous f32 tensors")
    }
}

impl HostMemory for Flex {
    type Values = FlexValues;

    fn values(tensor: FlexTensor) -> FlexValues {
        FlexValues(tensor.to_contiguous())
    }

    fn from_values(values: Vec<f32>, shape: Shape) -> FlexTensor {
        FlexTensor::new(
            Bytes::from_elems(values),
            Layout::contiguous(shape),
            DType::F32,
        )
    }

    fn shape(tensor: &FlexTensor) -> Shape {
        tensor.shape()
    }
}

#[cfg(feature = "libtorch")]
mod libtorch {
    use super::*;
    use burn::backend::LibTorch;
    use burn::backend::libtorch::TchTensor;

    /// A contiguous f32 CPU tensor of libtorch, read in place.
    pub struct TchValues(tch::Tensor);

    impl Deref for TchValues {
        type Target = [f32];

        fn deref(&self) -> &[f32] {
            let len = self.0.numel();
            if len == 0 {
                return &[];
            }
            // SAFETY: `values` made the tensor a contiguous f32 CPU tensor of `len` elements,
            // which this value owns (a reference to its storage) for the slice's lifetime.
            unsafe { std::slice::from_raw_parts(self.0.data_ptr() as *const f32, len) }
        }
    }

    impl HostMemory for LibTorch {
        type Values = TchValues;

        fn values(tensor: TchTensor) -> TchValues {
            let tensor = tensor.tensor;
            assert!(
                tensor.kind() == tch::Kind::Float && tensor.device() == tch::Device::Cpu,
                "the kernels run on f32 CPU tensors"
            );
            TchValues(tensor.contiguous())
        }

        fn from_values(values: Vec<f32>, shape: Shape) -> TchTensor {
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            TchTensor::new(tch::Tensor::from_slice(&values).reshape(dims))
        }

        fn shape(tensor: &TchTensor) -> Shape {
            tensor.shape()
        }
    }
}
