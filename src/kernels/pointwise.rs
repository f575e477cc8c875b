//! The folded 1x1 convolution for inference: per sample a matrix product of the weights
//! `[out_channels, in_channels]` with the input's channel planes `[in_channels, h * w]`,
//! computed in blocks of columns, each block followed by the epilogue ([`Epilogue`]) while it
//! is still in cache. The blocks are the units of work for the threads, so that a single frame
//! uses all of them; the output is written once (no zero fill before the product).

use rayon::prelude::*;

use super::HostMemory;
use super::epilogue::Epilogue;
use super::host::FlexOutput;
use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Shape;

/// Output columns per unit of work: with the widest layers' few hundred channels, a block
/// stays within the L2 cache between the product and the epilogue.
const BLOCK_COLUMNS: usize = 256;

/// A pointer to the output that the units of work share; each writes its own block.
#[derive(Clone, Copy)]
struct OutputPointer(*mut f32);

// SAFETY: the units write disjoint blocks of the output (see `forward`).
unsafe impl Send for OutputPointer {}
unsafe impl Sync for OutputPointer {}

impl OutputPointer {
    /// The output `offset` values in. (A method, so that closures capture the whole pointer,
    /// which is `Send`, rather than its field.)
    ///
    /// # Safety
    /// `offset` must lie inside the output's allocation.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: as the caller promises.
        unsafe { self.0.add(offset) }
    }
}

/// `[batch, in_channels, h, w]` with `[out_channels, in_channels, 1, 1]` weights, then
/// `epilogue`.
pub(super) fn forward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    epilogue: Epilogue,
) -> FloatTensor<Flex> {
    let [batch, in_channels, height, width] = Flex::shape(&x).dims::<4>();
    let weight_shape = Flex::shape(&weight).dims::<4>();
    let out_channels = weight_shape[0];
    // The products below read the weights as an `out_channels` x `in_channels` matrix.
    assert_eq!(
        weight_shape,
        [out_channels, in_channels, 1, 1],
        "1x1 weights that do not fit the input's {in_channels} channels"
    );
    let columns = height * width;
    let (x, weight) = (Flex::values(x), Flex::values(weight));
    let (x, weight): (&[f32], &[f32]) = (&x, &weight);
    let len = batch * out_channels * columns;
    let mut output = Vec::<f32>::with_capacity(len);
    let pointer = OutputPointer(output.as_mut_ptr());
    let blocks = columns.div_ceil(BLOCK_COLUMNS);
    (0..batch * blocks).into_par_iter().for_each(|unit| {
        let (sample, block) = (unit / blocks, unit % blocks);
        let first = block * BLOCK_COLUMNS;
        let block_columns = BLOCK_COLUMNS.min(columns - first);
        let input = &x[sample * in_channels * columns..][..in_channels * columns];
        let sample_output = sample * out_channels * columns;
        // SAFETY: the product writes (never reads: `read_dst` is false) the block's
        // `out_channels` rows of `block_columns` values, with row stride `columns`, inside the
        // sample's `out_channels * columns` values of the allocation; no other unit writes
        // them. The operands are the contiguous weights and the sample's input columns.
        unsafe {
            gemm::gemm(
                out_channels,
                block_columns,
                in_channels,
                pointer.at(sample_output + first),
                1,
                columns as isize,
                false,
                weight.as_ptr(),
                1,
                in_channels as isize,
                input.as_ptr().add(first),
                1,
                columns as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for channel in 0..out_channels {
            // SAFETY: this row of the block was written by the product above and belongs to
            // this unit alone.
            let row = unsafe {
                std::slice::from_raw_parts_mut(
                    pointer.at(sample_output + channel * columns + first),
                    block_columns,
                )
            };
            epilogue.apply(channel, row);
        }
    });
    // SAFETY: the blocks cover every column of every output row of every sample, so all `len`
    // values were written.
    unsafe { output.set_len(len) };
    let shape = Shape::new([batch, out_channels, height, width]);
    Flex::tensor(FlexOutput::new(output, shape))
}
