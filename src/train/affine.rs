//! 2D affine maps between image coordinates, and rendering an image through one.
//!
//! Coordinates are continuous pixels: pixel `(i, j)` covers `[i, i+1) x [j, j+1)` and its
//! centre is `(i + 0.5, j + 0.5)`. A flip, crop, zoom-out, scale, shear, rotation and the final
//! resize to the network input compose into one map, so each training image is resampled once.

use image::RgbImage;

use crate::boxes::Corners;

/// `x' = a x + b y + c`, `y' = d x + e y + f`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
    e: f32,
    f: f32,
}

impl Affine {
    /// The identity map.
    pub const IDENTITY: Self = Self {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 0.0,
        e: 1.0,
        f: 0.0,
    };

    /// Shift by `(dx, dy)`.
    pub fn translate(dx: f32, dy: f32) -> Self {
        Self {
            c: dx,
            f: dy,
            ..Self::IDENTITY
        }
    }

    /// Scale each axis about the origin.
    pub fn scale(sx: f32, sy: f32) -> Self {
        Self {
            a: sx,
            e: sy,
            ..Self::IDENTITY
        }
    }

    /// Rotate by `radians` (counter-clockwise on screen) about the origin.
    pub fn rotate(radians: f32) -> Self {
        let (sin, cos) = radians.sin_cos();
        Self {
            a: cos,
            b: sin,
            d: -sin,
            e: cos,
            ..Self::IDENTITY
        }
    }

    /// Horizontal shear: `x' = x + k y`.
    pub fn shear(k: f32) -> Self {
        Self {
            b: k,
            ..Self::IDENTITY
        }
    }

    /// Mirror left-right within `[0, width]`.
    pub fn flip_horizontal(width: f32) -> Self {
        Self {
            a: -1.0,
            c: width,
            ..Self::IDENTITY
        }
    }

    /// Map the rectangle `from` onto the rectangle `to` (per-axis scale and shift).
    pub fn rect_to_rect(from: &Corners, to: &Corners) -> Self {
        let sx = to.width() / from.width();
        let sy = to.height() / from.height();
        Self::translate(-from.x1, -from.y1)
            .then(&Self::scale(sx, sy))
            .then(&Self::translate(to.x1, to.y1))
    }

    /// `self` followed by `next`.
    pub fn then(&self, next: &Self) -> Self {
        Self {
            a: next.a * self.a + next.b * self.d,
            b: next.a * self.b + next.b * self.e,
            c: next.a * self.c + next.b * self.f + next.c,
            d: next.d * self.a + next.e * self.d,
            e: next.d * self.b + next.e * self.e,
            f: next.d * self.c + next.e * self.f + next.f,
        }
    }

    /// Apply `self` about the point `(cx, cy)` instead of the origin.
    pub fn about(&self, cx: f32, cy: f32) -> Self {
        Self::translate(-cx, -cy)
            .then(self)
            .then(&Self::translate(cx, cy))
    }

    /// The inverse map.
    pub fn inverse(&self) -> Self {
        let det = self.a * self.e - self.b * self.d;
        let (a, b, d, e) = (self.e / det, -self.b / det, -self.d / det, self.a / det);
        Self {
            a,
            b,
            c: -(a * self.c + b * self.f),
            d,
            e,
            f: -(d * self.c + e * self.f),
        }
    }

    /// Map a point.
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.a * x + self.b * y + self.c,
            self.d * x + self.e * y + self.f,
        )
    }

    /// Where a face box goes: the bounding box of the mapped ellipse inscribed in `bbox`.
    ///
    /// A face is round, not a rectangle: the box around the rotated corners would grow with
    /// every rotation and shear (by 16 % at 10 degrees), and a model trained on such boxes
    /// draws every face that much too large. Flips, scales and shifts map the box exactly.
    pub fn apply_box(&self, bbox: &Corners) -> Corners {
        let centre = bbox.to_center_size();
        let (cx, cy) = self.apply(centre.cx, centre.cy);
        let (rx, ry) = (centre.w / 2.0, centre.h / 2.0);
        // The ellipse is `centre + L (rx cos t, ry sin t)`; each coordinate's extreme is the
        // norm of its row of `L diag(rx, ry)`.
        let half_w = (self.a * rx).hypot(self.b * ry);
        let half_h = (self.d * rx).hypot(self.e * ry);
        Corners::new(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    }

    /// Geometric mean of the axis scales: how much the map enlarges areas, as a length factor.
    pub fn linear_scale(&self) -> f32 {
        (self.a * self.e - self.b * self.d).abs().sqrt()
    }
}

/// Render `source` through `map` into `target`'s `region` (output pixels outside it are left
/// as they are; points that fall outside the source get `fill`). Bilinear sampling; a map that
/// shrinks by more than 2x first box-filters the source so that small faces do not alias.
pub fn render(
    source: &RgbImage,
    map: &Affine,
    target: &mut RgbImage,
    region: (u32, u32, u32, u32),
    fill: [u8; 3],
) {
    let shrink = (1.0 / map.linear_scale()).floor().max(1.0) as u32;
    let (source, map) = if shrink >= 2 {
        let small = box_shrink(source, shrink);
        let k = shrink as f32;
        (small, Affine::scale(k, k).then(map))
    } else {
        (source.clone(), *map)
    };
    let inverse = map.inverse();
    let (sw, sh) = (source.width() as f32, source.height() as f32);
    let (x0, y0, x1, y1) = region;
    for y in y0..y1.min(target.height()) {
        for x in x0..x1.min(target.width()) {
            let (u, v) = inverse.apply(x as f32 + 0.5, y as f32 + 0.5);
            let pixel = if u < 0.0 || v < 0.0 || u > sw || v > sh {
                fill
            } else {
                sample(&source, u - 0.5, v - 0.5)
            };
            target.put_pixel(x, y, image::Rgb(pixel));
        }
    }
}

fn sample(image: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (fx, fy) = (x.floor(), y.floor());
    let (tx, ty) = (x - fx, y - fy);
    let clamp = |v: i64, max: i64| v.clamp(0, max - 1) as u32;
    let (x0, x1) = (clamp(fx as i64, w), clamp(fx as i64 + 1, w));
    let (y0, y1) = (clamp(fy as i64, h), clamp(fy as i64 + 1, h));
    let p = |x, y| image.get_pixel(x, y).0;
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    std::array::from_fn(|i| {
        let top = a[i] as f32 + (b[i] as f32 - a[i] as f32) * tx;
        let bottom = c[i] as f32 + (d[i] as f32 - c[i] as f32) * tx;
        (top + (bottom - top) * ty).round().clamp(0.0, 255.0) as u8
    })
}

/// Average `factor` x `factor` blocks (the last partial blocks average what they have).
fn box_shrink(image: &RgbImage, factor: u32) -> RgbImage {
    let (w, h) = (
        image.width().div_ceil(factor),
        image.height().div_ceil(factor),
    );
    RgbImage::from_fn(w, h, |x, y| {
        let mut sum = [0u32; 3];
        let mut n = 0;
        for sy in y * factor..((y + 1) * factor).min(image.height()) {
            for sx in x * factor..((x + 1) * factor).min(image.width()) {
                let p = image.get_pixel(sx, sy).0;
                for c in 0..3 {
                    sum[c] += p[c] as u32;
                }
                n += 1;
            }
        }
        image::Rgb(sum.map(|s| ((s + n / 2) / n) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32)) -> bool {
        (a.0 - b.0).abs() < 1e-4 && (a.1 - b.1).abs() < 1e-4
    }

    #[test]
    fn composition_and_inverse() {
        let map = Affine::rotate(0.3)
            .then(&Affine::scale(2.0, 0.5))
            .then(&Affine::shear(0.2))
            .then(&Affine::translate(5.0, -3.0));
        let point = (7.0, 11.0);
        let there = map.apply(point.0, point.1);
        assert!(close(map.inverse().apply(there.0, there.1), point));
        // `then` applies left to right.
        let shift_then_scale = Affine::translate(1.0, 0.0).then(&Affine::scale(2.0, 2.0));
        assert!(close(shift_then_scale.apply(1.0, 1.0), (4.0, 2.0)));
    }

    #[test]
    fn rect_to_rect_maps_corners() {
        let from = Corners::new(10.0, 20.0, 110.0, 70.0);
        let to = Corners::new(0.0, 0.0, 320.0, 240.0);
        let map = Affine::rect_to_rect(&from, &to);
        assert!(close(map.apply(10.0, 20.0), (0.0, 0.0)));
        assert!(close(map.apply(110.0, 70.0), (320.0, 240.0)));
    }

    #[test]
    fn flipping_twice_renders_the_original() {
        let image = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
        let flip = Affine::flip_horizontal(7.0);
        let mut once = RgbImage::new(7, 5);
        render(&image, &flip, &mut once, (0, 0, 7, 5), [0; 3]);
        assert_eq!(once.get_pixel(0, 0), image.get_pixel(6, 0));
        let mut twice = RgbImage::new(7, 5);
        render(&once, &flip, &mut twice, (0, 0, 7, 5), [0; 3]);
        assert_eq!(twice, image);
        assert_eq!(flip.then(&flip), Affine::IDENTITY);
    }

    #[test]
    fn face_boxes_keep_their_size_through_rotation_and_map_exactly_through_scaling() {
        let face = Corners::new(10.0, 20.0, 50.0, 72.0);
        // A circle's box does not grow when it turns.
        let circle = Corners::new(0.0, 0.0, 30.0, 30.0);
        let turned = Affine::rotate(0.3).about(15.0, 15.0).apply_box(&circle);
        for (a, b) in [
            (turned.x1, 0.0),
            (turned.y1, 0.0),
            (turned.x2, 30.0),
            (turned.y2, 30.0),
        ] {
            assert!((a - b).abs() < 1e-3, "{turned:?}");
        }
        // A quarter turn swaps width and height.
        let quarter = Affine::rotate(std::f32::consts::FRAC_PI_2).apply_box(&face);
        assert!((quarter.width() - 52.0).abs() < 1e-3 && (quarter.height() - 40.0).abs() < 1e-3);
        // Axis-aligned maps move the corners themselves.
        let map = Affine::flip_horizontal(100.0)
            .then(&Affine::scale(2.0, 0.5))
            .then(&Affine::translate(3.0, -4.0));
        let mapped = map.apply_box(&face);
        let (x1, y1) = map.apply(50.0, 20.0);
        let (x2, y2) = map.apply(10.0, 72.0);
        for (a, b) in [
            (mapped.x1, x1),
            (mapped.y1, y1),
            (mapped.x2, x2),
            (mapped.y2, y2),
        ] {
            assert!((a - b).abs() < 1e-3, "{mapped:?}");
        }
    }

    #[test]
    fn strong_shrinking_averages_instead_of_aliasing() {
        // A one-pixel checkerboard shrunk 4x must come out mid-grey, not black or white.
        let board = RgbImage::from_fn(64, 64, |x, y| {
            let v = if (x + y) % 2 == 0 { 255 } else { 0 };
            image::Rgb([v, v, v])
        });
        let mut small = RgbImage::new(16, 16);
        render(
            &board,
            &Affine::scale(0.25, 0.25),
            &mut small,
            (0, 0, 16, 16),
            [0; 3],
        );
        assert!(small.pixels().all(|p| (120..=135).contains(&p.0[0])));
    }
}
