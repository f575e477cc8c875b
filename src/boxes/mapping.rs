//! From normalised network coordinates back to the source image's pixels.

use super::Corners;

/// Map a box from normalised network coordinates to the source image's pixels, clipped to
/// the image.
///
/// The network sees the whole source image stretched to its input size (no letterbox), so the
/// mapping is a per-axis scale: a normalised `x` of 1.0 is the source's right edge whatever
/// the aspect ratios of source and input. Stretching keeps every input pixel useful and the
/// mapping exact; faces look slightly squashed when the aspects differ, which the training
/// augmentation (affine scale per axis) covers.
pub fn to_source_pixels(normalised: &Corners, source_width: u32, source_height: u32) -> Corners {
    let (w, h) = (source_width as f32, source_height as f32);
    Corners::new(
        normalised.x1 * w,
        normalised.y1 * h,
        normalised.x2 * w,
        normalised.y2 * h,
    )
    .clip(w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_axis_by_its_own_scale() {
        // A 640x360 (16:9) photo seen through a 320x240 (4:3) input.
        let normalised = Corners::new(0.25, 0.5, 0.5, 0.75);
        let pixels = to_source_pixels(&normalised, 640, 360);
        assert_eq!(pixels, Corners::new(160.0, 180.0, 320.0, 270.0));
    }

    #[test]
    fn portrait_source_maps_and_clips() {
        let normalised = Corners::new(-0.1, 0.9, 0.5, 1.2);
        let pixels = to_source_pixels(&normalised, 300, 500);
        assert_eq!(pixels, Corners::new(0.0, 450.0, 150.0, 500.0));
    }
}
