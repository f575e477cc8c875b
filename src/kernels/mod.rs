//! The crate's CPU kernels for the network's convolution + batch norm unit, as burn backend
//! extensions: burn's CPU backends run these units as generic compositions of tensor
//! operations, one pass over the map per operation; these take one or two.
//!
//! - Training ([`training`], feature `train`), with their own backward, on autodiff devices
//!   over Flex and over LibTorch's CPU device: batch norm over the batch's statistics fused with
//!   the ReLU6 that follows it, and the 3x3 convolution of the depthwise layers and the stem
//!   (burn's batch norm: channel-major copies and about four passes forward, eight backward; its
//!   depthwise weight gradient: a loop over the groups; the stem: an unfolded copy of the input
//!   for a matrix product).
//! - Inference ([`inference`]), on Flex (native and WebAssembly): the folded convolution's bias
//!   and ReLU6 applied to its output while it is in cache, in the 3x3 kernel and in the 1x1
//!   convolution's matrix product (burn: a zero fill, the product, a pass for the bias, then a
//!   scalar pass for the clamp).
//!
//! Every other device (wgpu, CUDA) keeps burn's own operations.

#[cfg(feature = "train")]
mod batch_norm;
mod conv3x3;
mod epilogue;
mod host;
pub mod inference;
mod pointwise;
#[cfg(feature = "train")]
mod sums;
#[cfg(feature = "train")]
pub mod training;

pub use host::HostMemory;

#[cfg(all(test, feature = "train"))]
pub(crate) mod tests;
