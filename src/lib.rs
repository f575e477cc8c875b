//! ssdface: a small SSD face detector built on burn.
//!
//! - [`boxes`]: pure box math (priors, codec, IoU, NMS, mapping back to source pixels).
//! - [`model`]: the SSD network, defined once for every burn device.
//! - [`preprocess`]: pixel buffers to normalised input tensors.
//! - [`weights`]: saving and loading trained weights (f32 or f16), from files or bytes.
//! - [`average`]: the parameter-wise mean of several trained networks.
//! - [`detector`]: the whole pipeline, image in, faces out.
//! - `files` (native): files written whole or not at all; paths that are not regular files refused.
//! - `photo` (feature `images`): photo files decoded upright, truncated files refused.
//! - `web` (feature `web`): the browser API over the detector.
//! - `kernels` (features `train`, `cli`, `web`): the crate's CPU kernels: for training (fused
//!   batch norm + ReLU6, depthwise convolution, with their own backward; Flex and LibTorch) and
//!   for inference (the folded convolution's bias and ReLU6 in one pass; Flex).
//! - `train` (feature `train`): native training; [`eval`]: WIDER FACE-style evaluation.

#![warn(missing_docs)]

pub mod average;
pub mod boxes;
pub mod data;
pub mod default_model;
pub mod detector;
pub mod eval;
#[cfg(not(target_family = "wasm"))]
pub mod files;
#[cfg(feature = "cpu-kernels")]
// burn marks its LibTorch backend deprecated; it remains a backend of this crate (`libtorch`),
// and the kernels implement their extension for it.
#[cfg_attr(feature = "libtorch", allow(deprecated))]
pub mod kernels;
pub mod model;
#[cfg(all(feature = "libtorch", unix))]
pub mod openmp;
#[cfg(feature = "images")]
pub mod photo;
#[cfg(feature = "images")]
pub mod plots;
pub mod preprocess;
#[cfg(feature = "train")]
pub mod train;
#[cfg(feature = "web")]
pub mod web;
pub mod weights;
