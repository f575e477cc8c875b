//! Host memory of the CPU backends the kernels run on: their f32 tensors as slices to read, and
//! the kernels' outputs written straight into tensor storage (no copy on the way back).

use std::ops::{Deref, DerefMut};

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::tensor::{Bytes, DType, Shape};

/// A CPU backend whose f32 tensors the kernels read and write as slices.
pub trait HostMemory: burn::backend::Backend {
    /// A tensor's values in row-major order, borrowed where the backend allows it.
    type Values: Deref<Target = [f32]>;
    /// A tensor's storage that a kernel writes its output into, row-major.
    type Output: DerefMut<Target = [f32]>;

    /// The tensor's values, made contiguous first if they are not.
    fn values(tensor: FloatTensor<Self>) -> Self::Values;

    /// A zeroed output of `shape`, for a kernel that writes each value once.
    fn zeros(shape: Shape) -> Self::Output;

    /// A zeroed output of `shape`, for a kernel that adds into it (see [`written_zeros`]).
    fn accumulator(shape: Shape) -> Self::Output {
        Self::zeros(shape)
    }

    /// The tensor's values as an output to overwrite: its own storage when nothing else holds
    /// it (no allocation, no copy), a contiguous copy otherwise.
    fn reuse(tensor: FloatTensor<Self>) -> Self::Output;

    /// The tensor an output was written into.
    fn tensor(output: Self::Output) -> FloatTensor<Self>;

    /// The tensor's shape.
    fn shape(tensor: &FloatTensor<Self>) -> Shape;

    /// A tensor of `shape` holding `values` (row-major): for the small per-channel results.
    fn from_values(values: &[f32], shape: Shape) -> FloatTensor<Self> {
        let mut output = Self::zeros(shape);
        output.copy_from_slice(values);
        Self::tensor(output)
    }
}

/// `len` zeros, written rather than left to calloc, for memory that a kernel adds into.
/// calloc's large blocks are fresh pages that first map the shared zero page: the first `+=`
/// reads it and then faults again to replace it, flushing the TLB of every core the process runs
/// on (`ptep_clear_flush` in a profile: at batch 16 it made the stem's forward on Flex twice
/// LibTorch's, whose zeros are written). Memory that is only written is better left to calloc.
pub(super) fn written_zeros(len: usize) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    // Hidden from the optimiser, which may otherwise fold an allocation and its zero fill
    // back into calloc.
    std::hint::black_box(values.as_mut_ptr());
    values.resize(len, 0.0);
    values
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

/// A Flex tensor that owns all of its storage, contiguous from its start.
pub struct FlexOutput(FlexTensor);

impl FlexOutput {
    /// `values` (row-major, `shape`'s count of them) as a tensor's storage.
    pub(super) fn new(values: Vec<f32>, shape: Shape) -> Self {
        Self(FlexTensor::new(
            Bytes::from_elems(values),
            Layout::contiguous(shape),
            DType::F32,
        ))
    }

    /// Whether `tensor` can be written in place: unshared f32 storage that it covers exactly.
    fn owns_its_storage(tensor: &FlexTensor) -> bool {
        tensor.dtype() == DType::F32
            && tensor.is_unique()
            && tensor.layout().contiguous_offsets() == Some((0, tensor.storage::<f32>().len()))
    }
}

impl Deref for FlexOutput {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        self.0.storage::<f32>()
    }
}

impl DerefMut for FlexOutput {
    fn deref_mut(&mut self) -> &mut [f32] {
        self.0
            .try_storage_mut::<f32>()
            .expect("an output owns its storage")
    }
}

impl HostMemory for Flex {
    type Values = FlexValues;
    type Output = FlexOutput;

    fn values(tensor: FlexTensor) -> FlexValues {
        FlexValues(tensor.to_contiguous())
    }

    fn zeros(shape: Shape) -> FlexOutput {
        // A zeroed Vec comes from calloc: fresh pages need no clearing before they are written.
        // (FlexTensor::zeros allocates bytes and then copies them once more to align them.)
        FlexOutput::new(vec![0.0f32; shape.num_elements()], shape)
    }

    fn accumulator(shape: Shape) -> FlexOutput {
        FlexOutput::new(written_zeros(shape.num_elements()), shape)
    }

    fn reuse(tensor: FlexTensor) -> FlexOutput {
        if FlexOutput::owns_its_storage(&tensor) {
            return FlexOutput(tensor);
        }
        let mut output = Self::zeros(tensor.shape());
        output.copy_from_slice(&Self::values(tensor));
        output
    }

    fn tensor(output: FlexOutput) -> FlexTensor {
        output.0
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

    /// The values of a contiguous f32 CPU tensor.
    ///
    /// # Safety
    /// `tensor` must be a contiguous f32 CPU tensor.
    unsafe fn slice(tensor: &tch::Tensor) -> &[f32] {
        match tensor.numel() {
            0 => &[],
            // SAFETY: `len` f32 values at the data of a contiguous f32 tensor, which the
            // borrow of `tensor` (a reference to its storage) keeps alive.
            len => unsafe { std::slice::from_raw_parts(tensor.data_ptr() as *const f32, len) },
        }
    }

    /// A contiguous f32 CPU tensor of libtorch, read in place.
    pub struct TchValues(tch::Tensor);

    impl Deref for TchValues {
        type Target = [f32];

        fn deref(&self) -> &[f32] {
            // SAFETY: `values` made the tensor a contiguous f32 CPU tensor.
            unsafe { slice(&self.0) }
        }
    }

    /// A contiguous f32 CPU tensor of libtorch whose storage nothing else holds.
    pub struct TchOutput(TchTensor);

    impl Deref for TchOutput {
        type Target = [f32];

        fn deref(&self) -> &[f32] {
            // SAFETY: `zeros` and `reuse` give contiguous f32 CPU tensors.
            unsafe { slice(&self.0.tensor) }
        }
    }

    impl DerefMut for TchOutput {
        fn deref_mut(&mut self) -> &mut [f32] {
            let len = self.0.tensor.numel();
            if len == 0 {
                return &mut [];
            }
            // SAFETY: a contiguous f32 CPU tensor of `len` elements (as for `deref`) whose
            // storage nothing else holds, so this exclusive borrow is its only access.
            unsafe { std::slice::from_raw_parts_mut(self.0.tensor.data_ptr() as *mut f32, len) }
        }
    }

    /// Asserts what the kernels take: an f32 tensor on the CPU.
    fn check(tensor: &tch::Tensor) {
        assert!(
            tensor.kind() == tch::Kind::Float && tensor.device() == tch::Device::Cpu,
            "the kernels run on f32 CPU tensors"
        );
    }

    impl HostMemory for LibTorch {
        type Values = TchValues;
        type Output = TchOutput;

        fn values(tensor: TchTensor) -> TchValues {
            check(&tensor.tensor);
            TchValues(tensor.tensor.contiguous())
        }

        fn zeros(shape: Shape) -> TchOutput {
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            TchOutput(TchTensor::new(tch::Tensor::zeros(
                dims,
                (tch::Kind::Float, tch::Device::Cpu),
            )))
        }

        fn reuse(tensor: TchTensor) -> TchOutput {
            check(&tensor.tensor);
            if tensor.can_mut() && tensor.tensor.is_contiguous() {
                return TchOutput(tensor);
            }
            TchOutput(TchTensor::new(tensor.tensor.contiguous().copy()))
        }

        fn tensor(output: TchOutput) -> TchTensor {
            output.0
        }

        fn shape(tensor: &TchTensor) -> Shape {
            tensor.shape()
        }
    }
}
