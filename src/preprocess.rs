//! Pixel buffers to network input: [`to_input_tensor`] for detection, one function for native
//! and browser alike, and [`resize_normalise`] in plain Rust, which training items use on
//! loader threads. A test keeps the two equal.

use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn_dispatch::DispatchDevice;

use crate::model::SsdConfig;

/// How the bytes of a pixel buffer are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    /// 3 bytes per pixel: red, green, blue.
    Rgb,
    /// 4 bytes per pixel: red, green, blue, alpha (alpha is ignored), as in `ImageData`.
    Rgba,
}

impl PixelFormat {
    /// Bytes per pixel.
    pub fn channels(self) -> usize {
        match self {
            Self::Rgb => 3,
            Self::Rgba => 4,
        }
    }
}

/// A borrowed, row-major 8-bit image.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    /// Pixel bytes, `width * height * channels` long, rows top to bottom.
    pub pixels: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Layout of each pixel.
    pub format: PixelFormat,
}

/// A pixel buffer that does not describe an image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Zero width or height.
    #[error("image is empty ({width}x{height})")]
    Empty {
        /// Given width.
        width: u32,
        /// Given height.
        height: u32,
    },
    /// The byte count does not match the dimensions.
    #[error(
        "pixel buffer holds {actual} bytes but a {width}x{height} {format:?} image needs {expected}"
    )]
    Length {
        /// Given width.
        width: u32,
        /// Given height.
        height: u32,
        /// Given layout.
        format: PixelFormat,
        /// Bytes the dimensions need.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
}

impl<'a> ImageView<'a> {
    /// A view of `pixels`, checked against the dimensions.
    pub fn new(
        pixels: &'a [u8],
        width: u32,
        height: u32,
        format: PixelFormat,
    ) -> Result<Self, ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::Empty { width, height });
        }
        let expected = width as usize * height as usize * format.channels();
        if pixels.len() != expected {
            return Err(ImageError::Length {
                width,
                height,
                format,
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self {
            pixels,
            width,
            height,
            format,
        })
    }

    fn channel(&self, x: usize, y: usize, c: usize) -> f32 {
        let channels = self.format.channels();
        self.pixels[(y * self.width as usize + x) * channels + c] as f32
    }
}

/// Resize an image to `width` x `height` (bilinear, pixel centres aligned as in OpenCV's
/// `INTER_LINEAR`) and normalise it to `(value - mean) / std`, channel-major (`[3, h, w]`, RGB).
///
/// Stretching (no letterbox) matches [`crate::boxes::to_source_pixels`].
pub fn resize_normalise(
    image: &ImageView,
    width: usize,
    height: usize,
    mean: f32,
    std: f32,
) -> Vec<f32> {
    let xs = sample_positions(image.width as usize, width);
    let ys = sample_positions(image.height as usize, height);
    let mut out = vec![0.0; 3 * width * height];
    for (c, plane) in out.chunks_exact_mut(width * height).enumerate() {
        for (row, &(y0, y1, fy)) in plane.chunks_exact_mut(width).zip(&ys) {
            for (value, &(x0, x1, fx)) in row.iter_mut().zip(&xs) {
                let top = lerp(image.channel(x0, y0, c), image.channel(x1, y0, c), fx);
                let bottom = lerp(image.channel(x0, y1, c), image.channel(x1, y1, c), fx);
                *value = (lerp(top, bottom, fy) - mean) / std;
            }
        }
    }
    out
}

/// The network input for one image, `[1, 3, input_height, input_width]`, on `device`.
///
/// On a GPU the source's bytes go up packed one pixel per 32-bit integer, and unpacking,
/// resizing (bilinear, as [`resize_normalise`]) and normalising run there: on WebGPU that keeps
/// the per-pixel work off the page's only thread and uploads a quarter of the bytes of a float
/// image. On the CPU the plain Rust loop is faster than the same tensor operations
/// (`cargo bench --bench detection`), so it runs there.
pub fn to_input_tensor(image: &ImageView, config: &SsdConfig, device: &Device) -> Tensor<4> {
    let (w, h) = (config.input_width, config.input_height);
    if is_host_cpu(device) {
        let values = resize_normalise(image, w, h, config.pixel_mean, config.pixel_std);
        return Tensor::from_data(TensorData::new(values, [1, 3, h, w]), device);
    }
    resize_normalise_on_device(image, config, device)
}

/// Whether `device` computes on this CPU, where [`resize_normalise`]'s loop is the fastest.
fn is_host_cpu(device: &Device) -> bool {
    match device.as_dispatch() {
        DispatchDevice::Flex(_) => true,
        // burn marks LibTorch deprecated; it remains a backend of this crate (`libtorch`).
        #[cfg(feature = "libtorch")]
        #[allow(deprecated)]
        DispatchDevice::LibTorch(device) => {
            matches!(device, burn_dispatch::devices::LibTorchDevice::Cpu)
        }
        #[allow(unreachable_patterns)] // Flex is the only backend of the CPU-only builds.
        _ => false,
    }
}

/// [`resize_normalise`] as tensor operations on `device`.
fn resize_normalise_on_device(image: &ImageView, config: &SsdConfig, device: &Device) -> Tensor<4> {
    let (width, height) = (image.width as usize, image.height as usize);
    let packed: Vec<i32> = image
        .pixels
        .chunks_exact(image.format.channels())
        .map(|p| i32::from_le_bytes([p[0], p[1], p[2], 0]))
        .collect();
    let packed = Tensor::<2, Int>::from_data(TensorData::new(packed, [height, width]), device);
    let planes = (0..3)
        .map(|channel| {
            packed
                .clone()
                .bitwise_right_shift_scalar(8 * channel)
                .bitwise_and_scalar(0xff)
                .float()
        })
        .collect();
    let rgb = Tensor::stack::<3>(planes, 0).unsqueeze::<4>();
    let resized = interpolate(
        rgb,
        InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size([config.input_height, config.input_width]),
    );
    (resized - config.pixel_mean) / config.pixel_std
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// For each output index: the two source indices to blend and the weight of the second.
fn sample_positions(source: usize, target: usize) -> Vec<(usize, usize, f32)> {
    let scale = source as f32 / target as f32;
    (0..target)
        .map(|i| {
            let position = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (source - 1) as f32);
            let low = position.floor() as usize;
            let high = (low + 1).min(source - 1);
            (low, high, position - low as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_copies_and_normalises() {
        // 2x1 RGB: a red and a blue pixel.
        let pixels = [255, 0, 0, 0, 0, 255];
        let image = ImageView::new(&pixels, 2, 1, PixelFormat::Rgb).unwrap();
        let out = resize_normalise(&image, 2, 1, 127.0, 128.0);
        let (hi, lo) = (128.0 / 128.0, -127.0 / 128.0);
        assert_eq!(out, vec![hi, lo, lo, lo, lo, hi]);
    }

    #[test]
    fn halving_averages_two_by_two_blocks_and_ignores_alpha() {
        // 4x2 RGBA; the left 2x2 block averages to 100 in every channel, the right one to 20.
        #[rustfmt::skip]
        let pixels = [
            50, 50, 50, 0,    150, 150, 150, 9,    10, 10, 10, 255,  30, 30, 30, 255,
            100, 100, 100, 7, 100, 100, 100, 7,    20, 20, 20, 0,    20, 20, 20, 0,
        ];
        let image = ImageView::new(&pixels, 4, 2, PixelFormat::Rgba).unwrap();
        let out = resize_normalise(&image, 2, 1, 0.0, 1.0);
        assert_eq!(out, vec![100.0, 20.0, 100.0, 20.0, 100.0, 20.0]);
    }

    #[test]
    fn upscaling_interpolates_between_pixels() {
        // 2x1 grey ramp 0 -> 100 stretched to 4x1: centres at -0.25, 0.25, 0.75, 1.25.
        let pixels = [0, 0, 0, 100, 100, 100];
        let image = ImageView::new(&pixels, 2, 1, PixelFormat::Rgb).unwrap();
        let out = resize_normalise(&image, 4, 1, 0.0, 1.0);
        assert_eq!(&out[..4], &[0.0, 25.0, 75.0, 100.0]);
    }

    #[test]
    fn rejects_buffers_that_do_not_match_their_size() {
        let pixels = [0u8; 11];
        assert_eq!(
            ImageView::new(&pixels, 2, 2, PixelFormat::Rgb).unwrap_err(),
            ImageError::Length {
                width: 2,
                height: 2,
                format: PixelFormat::Rgb,
                expected: 12,
                actual: 11
            }
        );
        assert!(matches!(
            ImageView::new(&[], 0, 5, PixelFormat::Rgba),
            Err(ImageError::Empty { .. })
        ));
    }

    #[test]
    fn the_device_path_equals_the_plain_rust_one() {
        let config = SsdConfig::new();
        let (w, h) = (config.input_width, config.input_height);
        // A deterministic, busy pattern, downscaled (RGBA) and upscaled (RGB).
        for (width, height, format) in [(643, 481, PixelFormat::Rgba), (97, 61, PixelFormat::Rgb)] {
            let pixels: Vec<u8> = (0..width * height * format.channels() as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            let image = ImageView::new(&pixels, width, height, format).unwrap();
            let want = resize_normalise(&image, w, h, config.pixel_mean, config.pixel_std);
            let got = resize_normalise_on_device(&image, &config, &Device::flex())
                .into_data()
                .try_into_vec::<f32>()
                .unwrap();
            assert_eq!(got.len(), want.len());
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-4, "{width}x{height} {format:?}: off by {worst}");
        }
    }

    #[test]
    fn tensor_has_the_configured_shape() {
        let pixels = vec![127u8; 7 * 5 * 3];
        let image = ImageView::new(&pixels, 7, 5, PixelFormat::Rgb).unwrap();
        let config = SsdConfig::new();
        let tensor = to_input_tensor(&image, &config, &Device::flex());
        assert_eq!(tensor.dims(), [1, 3, 240, 320]);
        let values = tensor.into_data().try_into_vec::<f32>().unwrap();
        // The mean grey, interpolated anywhere, normalises to zero (up to rounding).
        assert!(values.iter().all(|&v| v.abs() < 1e-5), "{values:?}");
    }
}
