//! Training augmentation: geometric changes composed into one affine map per image (flip,
//! crop at the network's own scale, face-keeping crop, zoom-out onto a larger canvas,
//! scale/shear/rotation/translation), mosaics of four images, synthetic face-free images, and
//! colour jitter. Boxes (faces and ignored faces) move with the pixels.
//!
//! All randomness comes from the generator passed in, so a seed reproduces a sample exactly.

use burn::config::Config;
use image::RgbImage;
use rand::RngExt;

use super::affine::{Affine, render};
use crate::boxes::Corners;
use crate::data::Sample;
use crate::model::{OutOfRange, ensure};

/// Grey used outside the source image (zoom-out canvas, rotated corners): the pixel mean, so it
/// normalises to about zero.
pub const FILL: [u8; 3] = [127, 127, 127];

/// How strongly to augment. Probabilities are per image.
#[derive(Config, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip.
    #[config(default = 0.5)]
    pub flip: f64,
    /// Probability of a crop at about the network's own scale: a window of the input size times
    /// a factor drawn log-uniformly from `native_scale`, anywhere in the image, so that the
    /// small faces of large crowd photos reach the network at close to their own size (a plain
    /// resize of a 1024-pixel photo to 320 shrinks a 20-pixel face below the smallest prior).
    /// Windows that miss every face are background crops.
    #[config(default = 0.4)]
    pub native_crop: f64,
    /// Range of the native crop's window, as multiples of the input size.
    #[config(default = "(0.6, 2.5)")]
    pub native_scale: (f32, f32),
    /// Probability of a crop that keeps at least one face whole (when no native crop is drawn).
    #[config(default = 0.5)]
    pub crop: f64,
    /// Smallest crop side, as a fraction of the image side.
    #[config(default = 0.3)]
    pub min_crop: f32,
    /// Probability of shrinking the image onto a larger grey canvas (teaches small faces).
    #[config(default = 0.3)]
    pub zoom_out: f64,
    /// Largest canvas, as a multiple of the image side.
    #[config(default = 3.0)]
    pub max_zoom_out: f32,
    /// Probability of a 2x2 mosaic of this and three other images.
    #[config(default = 0.25)]
    pub mosaic: f64,
    /// Probability of replacing the image with a synthetic one without faces (a solid colour,
    /// a gradient, fine or coarse noise): teaches that flat and textured areas are no faces
    /// (a model trained on masked faces takes a plain coloured area for a mask).
    #[config(default = 0.1)]
    pub synthetic_negative: f64,
    /// Per-axis scale jitter: factors in `1 ± scale`.
    #[config(default = 0.15)]
    pub scale: f32,
    /// Shear jitter in degrees, `±`.
    #[config(default = 5.0)]
    pub shear_degrees: f32,
    /// Rotation jitter in degrees, `±`.
    #[config(default = 10.0)]
    pub rotate_degrees: f32,
    /// Translation jitter as a fraction of the output side, `±`.
    #[config(default = 0.05)]
    pub translate: f32,
    /// Brightness shift in 8-bit levels, `±`.
    #[config(default = 32.0)]
    pub brightness: f32,
    /// Contrast factor jitter: `1 ± contrast`.
    #[config(default = 0.3)]
    pub contrast: f32,
    /// Saturation factor jitter: `1 ± saturation`.
    #[config(default = 0.3)]
    pub saturation: f32,
}

impl AugmentConfig {
    /// Check every setting: probabilities from 0 to 1, a native-scale range `0 < low <= high`,
    /// a smallest crop in (0, 1]. The error names the setting as `augment.<field>`, as it sits
    /// in a run's `train_config.json`.
    pub fn validate(&self) -> Result<(), OutOfRange> {
        for (field, p) in [
            ("flip", self.flip),
            ("native_crop", self.native_crop),
            ("crop", self.crop),
            ("zoom_out", self.zoom_out),
            ("mosaic", self.mosaic),
            ("synthetic_negative", self.synthetic_negative),
        ] {
            let probability = (0.0..=1.0).contains(&p);
            ensure(
                format!("augment.{field}"),
                "a probability from 0 to 1",
                p,
                probability,
            )?;
        }
        let (low, high) = self.native_scale;
        let scale_ok = low > 0.0 && low <= high && high.is_finite();
        ensure(
            "augment.native_scale",
            "0 < low <= high",
            format!("({low}, {high})"),
            scale_ok,
        )?;
        let min_crop = f64::from(self.min_crop);
        ensure(
            "augment.min_crop",
            "in (0, 1]",
            min_crop,
            min_crop > 0.0 && min_crop <= 1.0,
        )
    }

    /// No augmentation at all: the image is only resized (used for validation).
    pub fn none() -> Self {
        Self::new()
            .with_flip(0.0)
            .with_native_crop(0.0)
            .with_crop(0.0)
            .with_zoom_out(0.0)
            .with_mosaic(0.0)
            .with_synthetic_negative(0.0)
            .with_scale(0.0)
            .with_shear_degrees(0.0)
            .with_rotate_degrees(0.0)
            .with_translate(0.0)
            .with_brightness(0.0)
            .with_contrast(0.0)
            .with_saturation(0.0)
    }
}

/// Build the network input image (`width` x `height`) from `primary`, or from a mosaic of
/// `primary` and `partners` when the mosaic is drawn (it needs three partners).
pub fn augment(
    primary: &Sample,
    partners: &[Sample],
    config: &AugmentConfig,
    width: u32,
    height: u32,
    rng: &mut impl RngExt,
) -> Sample {
    let mut canvas = RgbImage::from_pixel(width, height, image::Rgb(FILL));
    let (w, h) = (width as f32, height as f32);
    let mut faces = Vec::new();
    let mut ignored = Vec::new();
    if rng.random_bool(config.synthetic_negative) {
        paint_synthetic(&mut canvas, rng);
    } else if partners.len() >= 3 && rng.random_bool(config.mosaic) {
        let cx = (w * rng.random_range(0.3..0.7)).round();
        let cy = (h * rng.random_range(0.3..0.7)).round();
        let regions = [
            Corners::new(0.0, 0.0, cx, cy),
            Corners::new(cx, 0.0, w, cy),
            Corners::new(0.0, cy, cx, h),
            Corners::new(cx, cy, w, h),
        ];
        let tiles = std::iter::once(primary).chain(&partners[..3]);
        for (sample, region) in tiles.zip(regions) {
            let (tile_faces, tile_ignored) = paint(sample, &region, config, &mut canvas, rng);
            faces.extend(tile_faces);
            ignored.extend(tile_ignored);
        }
    } else {
        let region = Corners::new(0.0, 0.0, w, h);
        (faces, ignored) = paint(primary, &region, config, &mut canvas, rng);
    }
    jitter_colour(&mut canvas, config, rng);
    Sample {
        image: canvas,
        faces,
        ignored,
    }
}

/// Map `sample` into `region` of the canvas with a random geometric augmentation; returns the
/// faces and ignored faces that stay in the region (centre inside), clipped to it, at least a
/// pixel on each side.
fn paint(
    sample: &Sample,
    region: &Corners,
    config: &AugmentConfig,
    canvas: &mut RgbImage,
    rng: &mut impl RngExt,
) -> (Vec<Corners>, Vec<Corners>) {
    let map = random_map(sample, region, config, rng);
    let bounds = (
        region.x1 as u32,
        region.y1 as u32,
        region.x2 as u32,
        region.y2 as u32,
    );
    render(&sample.image, &map, canvas, bounds, FILL);
    (
        transform_faces(&sample.faces, &map, region),
        transform_faces(&sample.ignored, &map, region),
    )
}

/// Fill `canvas` with a face-free picture: a solid colour, a linear or radial gradient between
/// two colours, fine noise (a grain of 1-4 pixels), or coarse noise (a random grid, bilinearly
/// enlarged). Half the colours are skin tones, the plain areas most easily taken for a face.
fn paint_synthetic(canvas: &mut RgbImage, rng: &mut impl RngExt) {
    let mut colour = || {
        if rng.random_bool(0.5) {
            let (light, dark) = ([255.0, 219.0, 172.0], [90.0, 56.0, 37.0]);
            let t = rng.random::<f32>();
            let mut jitter = || rng.random_range(-20.0..20.0f32);
            [0, 1, 2].map(|c: usize| light[c] + (dark[c] - light[c]) * t + jitter())
        } else {
            [0; 3].map(|_: u8| rng.random_range(0.0..=255.0f32))
        }
    };
    let (a, b) = (colour(), colour());
    let (w, h) = (canvas.width() as f32, canvas.height() as f32);
    // 0 solid, 1 linear gradient, 2 pixel noise (colour or grey), 3 smooth blotches, 4 radial
    // gradient.
    let kind = rng.random_range(0..5);
    let (rx, ry) = (rng.random_range(0.0..w), rng.random_range(0.0..h));
    let angle = rng.random_range(0.0..std::f32::consts::TAU);
    let amplitude = rng.random_range(8.0..96.0f32);
    let cells = rng.random_range(2..12usize);
    // Pixel noise is grey (one value for all channels) half the time: sensor noise in dim,
    // colourless scenes, which per-channel noise alone did not teach.
    let grey = rng.random_bool(0.5);
    // Half the fine noise has a grain of 1.5-4 pixels, bilinearly smoothed: the look of a small
    // noisy picture enlarged to the input size, which per-pixel noise did not teach (a model
    // trained on it alone took enlarged 100x100 grey noise for a face at 0.54).
    let grain = if rng.random_bool(0.5) {
        1.0
    } else {
        rng.random_range(1.5..4.0f32)
    };
    let grid: Vec<f32> = (0..(cells + 1) * (cells + 1) * 3)
        .map(|_| rng.random_range(-1.0..1.0f32))
        .collect();
    let (dx, dy) = (angle.cos(), angle.sin());
    let span = (w * dx).abs() + (h * dy).abs();
    for (x, y, pixel) in canvas.enumerate_pixels_mut() {
        let (xf, yf) = (x as f32, y as f32);
        let value: [f32; 3] = match kind {
            0 => a,
            1 => {
                let t = ((xf - w / 2.0) * dx + (yf - h / 2.0) * dy) / span + 0.5;
                [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * t)
            }
            2 => {
                let channel = |c: usize| if grey { 0 } else { c };
                [0, 1, 2].map(|c| {
                    let key = grid[channel(c)].to_bits() ^ c as u32;
                    a[c] + amplitude * grain_noise(xf, yf, grain, key)
                })
            }
            3 => {
                let (gx, gy) = (xf / w * cells as f32, yf / h * cells as f32);
                let at = |i: usize, j: usize, c: usize| grid[((j * (cells + 1)) + i) * 3 + c];
                [0, 1, 2].map(|c| a[c] + amplitude * bilinear(|i, j| at(i, j, c), gx, gy))
            }
            _ => {
                let r = ((xf - rx).powi(2) + (yf - ry).powi(2)).sqrt() / span;
                [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * r.min(1.0))
            }
        };
        pixel.0 = value.map(|v| v.round().clamp(0.0, 255.0) as u8);
    }
}

/// Noise in [-1, 1] at pixel `(x, y)`: one value per `grain`-pixel cell, a hash of the cell and
/// `key` (so it is deterministic per seed), bilinearly interpolated between cells.
fn grain_noise(x: f32, y: f32, grain: f32, key: u32) -> f32 {
    let hash = |i: usize, j: usize| {
        let n = ((i as u64) << 32 | (j as u64) << 2).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let n = n ^ key as u64;
        let n = (n ^ (n >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((n >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    bilinear(hash, x / grain, y / grain)
}

/// `lattice` (values at whole coordinates) bilinearly interpolated at `(x, y)`, both `>= 0`.
fn bilinear(lattice: impl Fn(usize, usize) -> f32, x: f32, y: f32) -> f32 {
    let (i, j) = (x as usize, y as usize);
    let (fx, fy) = (x - i as f32, y - j as f32);
    let top = lattice(i, j) * (1.0 - fx) + lattice(i + 1, j) * fx;
    let bottom = lattice(i, j + 1) * (1.0 - fx) + lattice(i + 1, j + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Boxes through `map`, kept when their centre lands in `region`, clipped, non-degenerate.
pub fn transform_faces(faces: &[Corners], map: &Affine, region: &Corners) -> Vec<Corners> {
    faces
        .iter()
        .map(|f| map.apply_box(f))
        .filter(|b| {
            let c = b.to_center_size();
            c.cx >= region.x1 && c.cx < region.x2 && c.cy >= region.y1 && c.cy < region.y2
        })
        .map(|b| {
            Corners::new(
                b.x1.max(region.x1),
                b.y1.max(region.y1),
                b.x2.min(region.x2),
                b.y2.min(region.y2),
            )
        })
        .filter(|b| b.width() >= 1.0 && b.height() >= 1.0)
        .collect()
}

/// The random geometric map from the sample's pixels into `region`.
fn random_map(
    sample: &Sample,
    region: &Corners,
    config: &AugmentConfig,
    rng: &mut impl RngExt,
) -> Affine {
    let full = Corners::new(
        0.0,
        0.0,
        sample.image.width() as f32,
        sample.image.height() as f32,
    );
    let window = if rng.random_bool(config.native_crop) {
        native_crop(&full, region, config.native_scale, rng)
    } else if rng.random_bool(config.crop) {
        face_keeping_crop(&full, &sample.faces, config.min_crop, rng).unwrap_or(full)
    } else {
        full
    };
    let mut map = Affine::rect_to_rect(&window, region);

    if rng.random_bool(config.zoom_out) && config.max_zoom_out > 1.0 {
        let ratio = rng.random_range(1.0..config.max_zoom_out);
        let (w, h) = (region.width() / ratio, region.height() / ratio);
        let x = region.x1 + rng.random_range(0.0..=region.width() - w);
        let y = region.y1 + rng.random_range(0.0..=region.height() - h);
        map = map.then(&Affine::rect_to_rect(
            region,
            &Corners::new(x, y, x + w, y + h),
        ));
    }

    let symmetric = |rng: &mut dyn FnMut() -> f32, limit: f32| rng() * 2.0 * limit - limit;
    let mut unit = || rng.random::<f32>();
    let (sx, sy) = (
        1.0 + symmetric(&mut unit, config.scale),
        1.0 + symmetric(&mut unit, config.scale),
    );
    let shear = symmetric(&mut unit, config.shear_degrees)
        .to_radians()
        .tan();
    let angle = symmetric(&mut unit, config.rotate_degrees).to_radians();
    let (tx, ty) = (
        symmetric(&mut unit, config.translate) * region.width(),
        symmetric(&mut unit, config.translate) * region.height(),
    );
    let centre = region.to_center_size();
    let jitter = Affine::scale(sx, sy)
        .then(&Affine::shear(shear))
        .then(&Affine::rotate(angle))
        .about(centre.cx, centre.cy)
        .then(&Affine::translate(tx, ty));
    map = map.then(&jitter);

    if rng.random_bool(config.flip) {
        map = map.then(&Affine::flip_horizontal(region.x1 + region.x2));
    }
    map
}

/// A random window of `full` with `region`'s aspect and its size times a factor drawn
/// log-uniformly from `scale`, placed anywhere; shrunk to fit where the image is smaller.
fn native_crop(
    full: &Corners,
    region: &Corners,
    scale: (f32, f32),
    rng: &mut impl RngExt,
) -> Corners {
    let (low, high) = (scale.0.max(1e-3).ln(), scale.1.max(scale.0).max(1e-3).ln());
    let factor = if high > low {
        rng.random_range(low..high).exp()
    } else {
        low.exp()
    };
    let fit = (full.width() / (region.width() * factor))
        .min(full.height() / (region.height() * factor))
        .min(1.0);
    let (w, h) = (
        region.width() * factor * fit,
        region.height() * factor * fit,
    );
    // Rounding can leave the fitted side a hair over the image's.
    let x = rng.random_range(0.0..=(full.width() - w).max(0.0));
    let y = rng.random_range(0.0..=(full.height() - h).max(0.0));
    Corners::new(x, y, x + w, y + h)
}

/// A random window of `full` that contains at least one face centre, and in which every face
/// whose centre it contains is at least `coverage` inside (coverage drawn from 0.3 to 1.0):
/// SSD's IoU-constrained crop, phrased for faces so small faces survive it. `None` after 50
/// failed draws.
fn face_keeping_crop(
    full: &Corners,
    faces: &[Corners],
    min_side: f32,
    rng: &mut impl RngExt,
) -> Option<Corners> {
    if faces.is_empty() {
        return None;
    }
    let coverage = [0.3, 0.5, 0.7, 0.9, 1.0][rng.random_range(0..5)];
    for _ in 0..50 {
        let w = full.width() * rng.random_range(min_side..=1.0);
        let h = full.height() * rng.random_range(min_side..=1.0);
        let aspect = (w / h) / (full.width() / full.height());
        if !(0.5..=2.0).contains(&aspect) {
            continue;
        }
        let x = rng.random_range(0.0..=full.width() - w);
        let y = rng.random_range(0.0..=full.height() - h);
        let crop = Corners::new(x, y, x + w, y + h);
        let inside: Vec<&Corners> = faces
            .iter()
            .filter(|f| {
                let c = f.to_center_size();
                c.cx >= crop.x1 && c.cx < crop.x2 && c.cy >= crop.y1 && c.cy < crop.y2
            })
            .collect();
        let kept_whole = inside.iter().all(|f| {
            let overlap = Corners::new(
                f.x1.max(crop.x1),
                f.y1.max(crop.y1),
                f.x2.min(crop.x2),
                f.y2.min(crop.y2),
            );
            overlap.area() >= coverage * f.area()
        });
        if !inside.is_empty() && kept_whole {
            return Some(crop);
        }
    }
    None
}

/// Brightness, contrast (about mid-grey) and saturation (towards the pixel's luma).
fn jitter_colour(image: &mut RgbImage, config: &AugmentConfig, rng: &mut impl RngExt) {
    let mut unit = || rng.random::<f32>() * 2.0 - 1.0;
    let brightness = unit() * config.brightness;
    let contrast = 1.0 + unit() * config.contrast;
    let saturation = 1.0 + unit() * config.saturation;
    if brightness == 0.0 && contrast == 1.0 && saturation == 1.0 {
        return;
    }
    for pixel in image.pixels_mut() {
        let [r, g, b] = pixel.0.map(f32::from);
        let luma = 0.299 * r + 0.587 * g + 0.114 * b;
        pixel.0 = [r, g, b].map(|v| {
            let saturated = luma + (v - luma) * saturation;
            let contrasted = 127.5 + (saturated - 127.5) * contrast;
            (contrasted + brightness).round().clamp(0.0, 255.0) as u8
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::Xoshiro256PlusPlus;

    /// A white ellipse (a face's shape) on black, labelled with the box it is inscribed in.
    fn white_face() -> Sample {
        let face = Corners::new(60.0, 40.0, 100.0, 92.0);
        let centre = face.to_center_size();
        let image = RgbImage::from_fn(200, 150, |x, y| {
            let u = (x as f32 + 0.5 - centre.cx) / (centre.w / 2.0);
            let v = (y as f32 + 0.5 - centre.cy) / (centre.h / 2.0);
            image::Rgb(if u * u + v * v < 1.0 {
                [255; 3]
            } else {
                [0; 3]
            })
        });
        Sample {
            image,
            faces: vec![face],
            ignored: Vec::new(),
        }
    }

    /// The pixel-edge box of the pixels brighter than mid-grey.
    fn white_bounds(image: &RgbImage) -> Option<Corners> {
        let mut bounds: Option<Corners> = None;
        for (x, y, p) in image.enumerate_pixels() {
            if p.0[0] > 127 {
                let (x, y) = (x as f32, y as f32);
                let b = bounds.get_or_insert(Corners::new(x, y, x + 1.0, y + 1.0));
                *b = Corners::new(
                    b.x1.min(x),
                    b.y1.min(y),
                    b.x2.max(x + 1.0),
                    b.y2.max(y + 1.0),
                );
            }
        }
        bounds
    }

    #[test]
    fn boxes_follow_the_pixels_through_flip_affine_and_crop() {
        let geometric_only = AugmentConfig::new()
            .with_synthetic_negative(0.0)
            .with_native_crop(0.0)
            .with_flip(0.5)
            .with_crop(0.7)
            .with_zoom_out(0.3)
            .with_mosaic(0.0)
            .with_brightness(0.0)
            .with_contrast(0.0)
            .with_saturation(0.0);
        let rigid = geometric_only
            .clone()
            .with_rotate_degrees(0.0)
            .with_shear_degrees(0.0);
        let sample = white_face();
        let mut checked = 0;
        // Rotated and sheared too, the box stays tight around the face's pixels: it neither
        // grows with the rotation nor cuts into the face.
        for config in [&geometric_only, &rigid] {
            for seed in 0..40 {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let out = augment(&sample, &[], config, 320, 240, &mut rng);
                let Some(white) = white_bounds(&out.image) else {
                    assert!(out.faces.is_empty(), "seed {seed}: box without its face");
                    continue;
                };
                // A face cut by the frame may lose its box (centre outside); skip those.
                let Some(face) = out.faces.first() else {
                    continue;
                };
                checked += 1;
                // The drawn face's edge is rounded to whole source pixels, which enlarging
                // spreads over more output pixels: hence a margin that grows with the face.
                let margin = 1.0 + 0.03 * face.width().max(face.height());
                for (a, b) in [
                    (face.x1, white.x1),
                    (face.y1, white.y1),
                    (face.x2, white.x2),
                    (face.y2, white.y2),
                ] {
                    assert!(
                        (a - b).abs() <= margin,
                        "seed {seed}: {face:?} vs {white:?}"
                    );
                }
            }
        }
        assert!(checked >= 40, "only {checked} augmented faces were checked");
    }

    #[test]
    fn the_same_seed_gives_the_same_sample() {
        let sample = white_face();
        let partners = vec![sample.clone(); 3];
        let config = AugmentConfig::new()
            .with_mosaic(1.0)
            .with_synthetic_negative(0.0);
        let run = |seed| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            augment(&sample, &partners, &config, 320, 240, &mut rng)
        };
        let (a, b, c) = (run(7), run(7), run(8));
        assert_eq!(a.image, b.image);
        assert_eq!(a.faces, b.faces);
        assert_ne!(a.image, c.image);
        // A mosaic of four squares shows up to four faces.
        assert!(a.faces.len() > 1);
    }

    #[test]
    fn ignored_faces_move_with_the_pixels_like_faces() {
        let mut sample = white_face();
        sample.ignored = sample.faces.clone();
        let config = AugmentConfig::new().with_mosaic(1.0);
        for seed in 0..20 {
            let partners = vec![sample.clone(); 3];
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let out = augment(&sample, &partners, &config, 320, 240, &mut rng);
            assert_eq!(out.faces, out.ignored, "seed {seed}");
        }
    }

    #[test]
    fn synthetic_negatives_have_no_faces_and_vary() {
        let sample = white_face();
        let config = AugmentConfig::new().with_synthetic_negative(1.0);
        let images: Vec<RgbImage> = (0..8)
            .map(|seed| {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let out = augment(&sample, &[], &config, 64, 48, &mut rng);
                assert!(out.faces.is_empty() && out.ignored.is_empty());
                out.image
            })
            .collect();
        // No two synthetic images alike.
        for (i, a) in images.iter().enumerate() {
            for b in &images[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn grain_noise_is_per_pixel_at_grain_one_and_smooth_at_coarser_grains() {
        // Mean absolute difference between horizontal neighbours over a 64x64 patch.
        let roughness = |grain: f32| {
            let mut sum = 0.0;
            for y in 0..64 {
                for x in 0..64 {
                    let (xf, yf) = (x as f32, y as f32);
                    let v = grain_noise(xf, yf, grain, 7);
                    assert!((-1.0..=1.0).contains(&v), "{v} at grain {grain}");
                    sum += (grain_noise(xf + 1.0, yf, grain, 7) - v).abs();
                }
            }
            sum / (64.0 * 64.0)
        };
        // Independent uniform values in [-1, 1] differ by 2/3 on average.
        assert!(
            (roughness(1.0) - 2.0 / 3.0).abs() < 0.05,
            "{}",
            roughness(1.0)
        );
        assert!(roughness(3.0) < 0.5 * roughness(1.0), "{}", roughness(3.0));
        assert!(
            roughness(4.0) < roughness(2.0),
            "{} {}",
            roughness(4.0),
            roughness(2.0)
        );
        // Another key, another pattern.
        assert_ne!(grain_noise(5.0, 9.0, 1.0, 7), grain_noise(5.0, 9.0, 1.0, 8));
    }

    #[test]
    fn native_crops_keep_the_source_scale() {
        let full = Corners::new(0.0, 0.0, 1000.0, 700.0);
        let region = Corners::new(0.0, 0.0, 320.0, 240.0);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        for _ in 0..200 {
            let window = native_crop(&full, &region, (0.6, 2.5), &mut rng);
            let factor = window.width() / region.width();
            assert!((0.6..=2.5).contains(&factor), "factor {factor}");
            assert!((window.height() / region.height() - factor).abs() < 1e-3);
            assert!(window.x1 >= 0.0 && window.y1 >= 0.0);
            assert!(window.x2 <= full.x2 + 1e-3 && window.y2 <= full.y2 + 1e-3);
        }
        // A small image is cropped to its own size at most, whatever the rounding.
        for (w, h) in [
            (200.0, 100.0),
            (333.3, 250.7),
            (101.1, 77.7),
            (640.0, 479.9),
        ] {
            let small = Corners::new(0.0, 0.0, w, h);
            for _ in 0..50 {
                let window = native_crop(&small, &region, (2.0, 2.5), &mut rng);
                assert!(window.width() <= w + 1e-3 && window.height() <= h + 1e-3);
            }
        }
    }

    #[test]
    fn no_augmentation_is_a_plain_resize() {
        let sample = white_face();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let out = augment(&sample, &[], &AugmentConfig::none(), 400, 300, &mut rng);
        assert_eq!(out.faces, vec![Corners::new(120.0, 80.0, 200.0, 184.0)]);
    }
}
