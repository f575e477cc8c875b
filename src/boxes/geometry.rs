//! Box types (corners and centre-size), their conversions, IoU and clipping.

/// A box given by its top-left and bottom-right corners.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Corners {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

/// A box given by its centre and size, the form the SSD codec works in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CenterSize {
    /// Horizontal centre.
    pub cx: f32,
    /// Vertical centre.
    pub cy: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl Corners {
    /// A box from its corners.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// A box from its top-left corner and size (WIDER FACE's `x y w h`).
    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self::new(x, y, x + w, y + h)
    }

    /// Width, zero for an inverted box.
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height, zero for an inverted box.
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area, zero for an inverted box.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// The box cut to `0..=width` x `0..=height`.
    pub fn clip(&self, width: f32, height: f32) -> Self {
        Self::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// The same box in centre-size form.
    pub fn to_center_size(&self) -> CenterSize {
        CenterSize {
            cx: (self.x1 + self.x2) / 2.0,
            cy: (self.y1 + self.y2) / 2.0,
            w: self.x2 - self.x1,
            h: self.y2 - self.y1,
        }
    }
}

impl CenterSize {
    /// The same box in corner form.
    pub fn to_corners(&self) -> Corners {
        Corners::new(
            self.cx - self.w / 2.0,
            self.cy - self.h / 2.0,
            self.cx + self.w / 2.0,
            self.cy + self.h / 2.0,
        )
    }
}

/// Intersection over union of two boxes; 0 when either is empty.
pub fn iou(a: &Corners, b: &Corners) -> f32 {
    let inter = Corners::new(
        a.x1.max(b.x1),
        a.y1.max(b.y1),
        a.x2.min(b.x2),
        a.y2.min(b.y2),
    );
    let inter_area = inter.area();
    let union = a.area() + b.area() - inter_area;
    if union <= 0.0 {
        0.0
    } else {
        inter_area / union
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one() {
        let a = Corners::new(1.0, 2.0, 5.0, 6.0);
        assert_eq!(iou(&a, &a), 1.0);
    }

    #[test]
    fn iou_of_disjoint_boxes_is_zero() {
        let a = Corners::new(0.0, 0.0, 1.0, 1.0);
        let b = Corners::new(2.0, 2.0, 3.0, 3.0);
        assert_eq!(iou(&a, &b), 0.0);
        // Touching edges share no area either.
        let c = Corners::new(1.0, 0.0, 2.0, 1.0);
        assert_eq!(iou(&a, &c), 0.0);
    }

    #[test]
    fn iou_of_nested_boxes_is_area_ratio() {
        let outer = Corners::new(0.0, 0.0, 4.0, 4.0);
        let inner = Corners::new(1.0, 1.0, 3.0, 3.0);
        assert!((iou(&outer, &inner) - 4.0 / 16.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_half_overlap() {
        // Two 2x2 boxes overlapping in a 1x2 strip: 2 / (4 + 4 - 2) = 1/3.
        let a = Corners::new(0.0, 0.0, 2.0, 2.0);
        let b = Corners::new(1.0, 0.0, 3.0, 2.0);
        assert!((iou(&a, &b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn iou_of_empty_boxes_is_zero() {
        let empty = Corners::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(iou(&empty, &empty), 0.0);
    }

    #[test]
    fn clip_cuts_to_the_image() {
        let clipped = Corners::new(-5.0, 3.0, 120.0, 90.0).clip(100.0, 80.0);
        assert_eq!(clipped, Corners::new(0.0, 3.0, 100.0, 80.0));
    }

    #[test]
    fn forms_convert_both_ways() {
        let corners = Corners::from_xywh(10.0, 20.0, 30.0, 40.0);
        let cs = corners.to_center_size();
        assert_eq!(
            cs,
            CenterSize {
                cx: 25.0,
                cy: 40.0,
                w: 30.0,
                h: 40.0
            }
        );
        assert_eq!(cs.to_corners(), corners);
    }
}
