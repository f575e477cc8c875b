//! Training augmentation: geometric changes composed into one affine map per image (flip,
//! face-keeping crop, zoom-out onto a larger canvas, scale/shear/rotation/translation),
//! mosaics of four images, and colour jitter. Boxes move with the pixels.
//!
//! All randomness comes from the generator passed in, so a seed reproduces a sample exactly.

use burn::config::Config;
use image::RgbImage;
use rand::RngExt;

use super::affine::{Affine, render};
use crate::boxes::Corners;
use crate::data::Sample;

/// Grey used outside the source image (zoom-out canvas, rotated corners): the pixel mean, so it
/// normalises to about zero.
pub const FILL: [u8; 3] = [127, 127, 127];

/// How strongly to augment. Probabilities are per image.
#[derive(Config, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip.
    #[config(default = 0.5)]
    pub flip: f64,
    /// Probability of a crop that keeps at least one face whole.
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
    /// No augmentation at all: the image is only resized (used for validation).
    pub fn none() -> Self {
        Self::new()
            .with_flip(0.0)
            .with_crop(0.0)
            .with_zoom_out(0.0)
            .with_mosaic(0.0)
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
    if partners.len() >= 3 && rng.random_bool(config.mosaic) {
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
            faces.extend(paint(sample, &region, config, &mut canvas, rng));
        }
    } else {
        let region = Corners::new(0.0, 0.0, w, h);
        faces = paint(primary, &region, config, &mut canvas, rng);
    }
    jitter_colour(&mut canvas, config, rng);
    Sample {
        image: canvas,
        faces,
    }
}

/// Map `sample` into `region` of the canvas with a random geometric augmentation; returns the
/// faces that stay in the region (centre inside), clipped to it, at least a pixel on each side.
fn paint(
    sample: &Sample,
    region: &Corners,
    config: &AugmentConfig,
    canvas: &mut RgbImage,
    rng: &mut impl RngExt,
) -> Vec<Corners> {
    let map = random_map(sample, region, config, rng);
    let bounds = (
        region.x1 as u32,
        region.y1 as u32,
        region.x2 as u32,
        region.y2 as u32,
    );
    render(&sample.image, &map, canvas, bounds, FILL);
    transform_faces(&sample.faces, &map, region)
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
    let window = if rng.random_bool(config.crop) {
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

    /// A black image with one white square, and that square as the face.
    fn white_square() -> Sample {
        let square = Corners::new(60.0, 40.0, 100.0, 80.0);
        let image = RgbImage::from_fn(200, 150, |x, y| {
            let (x, y) = (x as f32 + 0.5, y as f32 + 0.5);
            let inside = x > square.x1 && x < square.x2 && y > square.y1 && y < square.y2;
            image::Rgb(if inside { [255; 3] } else { [0; 3] })
        });
        Sample {
            image,
            faces: vec![square],
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
        let sample = white_square();
        let mut checked = 0;
        for (config, tight) in [(&geometric_only, false), (&rigid, true)] {
            for seed in 0..40 {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let out = augment(&sample, &[], config, 320, 240, &mut rng);
                let Some(white) = white_bounds(&out.image) else {
                    assert!(out.faces.is_empty(), "seed {seed}: box without its square");
                    continue;
                };
                // A square cut by the frame may lose its box (centre outside); skip those.
                let Some(face) = out.faces.first() else {
                    continue;
                };
                checked += 1;
                assert!(
                    face.x1 <= white.x1 + 1.0
                        && face.y1 <= white.y1 + 1.0
                        && face.x2 >= white.x2 - 1.0
                        && face.y2 >= white.y2 - 1.0,
                    "seed {seed}: box {face:?} does not enclose the square {white:?}"
                );
                if tight {
                    for (a, b) in [
                        (face.x1, white.x1),
                        (face.y1, white.y1),
                        (face.x2, white.x2),
                        (face.y2, white.y2),
                    ] {
                        assert!((a - b).abs() <= 1.0, "seed {seed}: {face:?} vs {white:?}");
                    }
                }
            }
        }
        assert!(
            checked >= 40,
            "only {checked} augmented squares were checked"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_sample() {
        let sample = white_square();
        let partners = vec![sample.clone(); 3];
        let config = AugmentConfig::new().with_mosaic(1.0);
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
    fn no_augmentation_is_a_plain_resize() {
        let sample = white_square();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let out = augment(&sample, &[], &AugmentConfig::none(), 400, 300, &mut rng);
        assert_eq!(out.faces, vec![Corners::new(120.0, 80.0, 200.0, 160.0)]);
    }
}
