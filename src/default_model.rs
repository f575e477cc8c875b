//! The model a build ships with: used when no weights are given.
//!
//! `models/default-320.ssdface` is compiled in, so the command line, the WebAssembly module and
//! the npm package detect faces with no file to fetch (the README says how it was trained).

/// The bundled weights.
pub const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../models/default-320.ssdface");

#[cfg(all(test, not(target_family = "wasm")))]
mod tests {
    use burn::prelude::*;

    use super::DEFAULT_WEIGHTS;
    use crate::detector::Detector;
    use crate::preprocess::{ImageView, PixelFormat};

    /// RGB pixels of `width` x `height` from a colour function of (x, y) in 0..1.
    fn picture(width: u32, height: u32, colour: impl Fn(f32, f32) -> [f32; 3]) -> Vec<u8> {
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .flat_map(|(x, y)| colour(x as f32 / width as f32, y as f32 / height as f32))
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
            .collect()
    }

    /// A repeatable pseudo-random value in -1..1 for position (x, y) and channel c.
    fn noise(x: f32, y: f32, c: usize, cells: f32) -> f32 {
        let (i, j) = ((x * cells) as u64, (y * cells) as u64);
        let mut n = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ j.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        n ^= c as u64;
        n = (n ^ (n >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        n = (n ^ (n >> 32)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (n >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    #[test]
    fn the_bundled_model_finds_no_face_in_plain_images() {
        type Colour = Box<dyn Fn(f32, f32) -> [f32; 3]>;
        let solid = |c: [f32; 3]| -> Colour { Box::new(move |_, _| c) };
        let pictures: Vec<(&str, Colour)> = vec![
            ("black", solid([0.0; 3])),
            ("white", solid([255.0; 3])),
            ("grey", solid([127.0; 3])),
            ("red", solid([220.0, 30.0, 30.0])),
            ("blue", solid([30.0, 60.0, 200.0])),
            ("skin", solid([224.0, 172.0, 140.0])),
            ("dark skin", solid([120.0, 80.0, 60.0])),
            (
                "horizontal gradient",
                Box::new(|x, _| [x * 255.0, x * 255.0, x * 255.0]),
            ),
            (
                "vertical colour gradient",
                Box::new(|_, y| [255.0 * y, 128.0, 255.0 * (1.0 - y)]),
            ),
            (
                "radial gradient",
                Box::new(|x, y| {
                    let r = ((x - 0.5).powi(2) + (y - 0.5).powi(2)).sqrt();
                    [255.0 * (1.0 - r), 200.0 * (1.0 - r), 180.0 * (1.0 - r)]
                }),
            ),
            (
                "pixel noise",
                Box::new(|x, y| [0, 1, 2].map(|c| 127.0 + 127.0 * noise(x, y, c, 2000.0))),
            ),
            (
                "grey pixel noise",
                Box::new(|x, y| [127.0 + 100.0 * noise(x, y, 0, 2000.0); 3]),
            ),
            (
                "coarse noise",
                Box::new(|x, y| [0, 1, 2].map(|c| 127.0 + 120.0 * noise(x, y, c, 12.0))),
            ),
        ];
        let detector = Detector::from_weights(DEFAULT_WEIGHTS, Device::flex()).unwrap();
        let mut found = Vec::new();
        for (name, colour) in &pictures {
            for (w, h) in [(320, 240), (640, 480), (100, 100), (1280, 720)] {
                let pixels = picture(w, h, colour);
                let view = ImageView::new(&pixels, w, h, PixelFormat::Rgb).unwrap();
                let faces = detector.detect(&view).unwrap();
                if let Some(best) = faces.first() {
                    found.push(format!(
                        "{name} {w}x{h}: {} faces, best {:.3}",
                        faces.len(),
                        best.score
                    ));
                }
            }
        }
        assert!(
            found.is_empty(),
            "faces where there are none:\n{}",
            found.join("\n")
        );
    }
}
