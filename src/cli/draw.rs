//! Drawing detections onto an image: a box per face and its score above it.

use image::{Rgb, RgbImage};
use ssdface::detector::Face;

use super::font;

const BOX_COLOUR: Rgb<u8> = Rgb([0, 255, 0]);
const LABEL_BACKGROUND: Rgb<u8> = Rgb([0, 0, 0]);

/// The image with every face outlined and labelled with its score.
pub fn faces(mut image: RgbImage, faces: &[Face]) -> RgbImage {
    let (w, h) = image.dimensions();
    // Lines and text grow with the image so they stay visible on large photos.
    let thickness = (w.max(h) / 300).max(2);
    let scale = (w.max(h) / 250).max(1);
    for face in faces {
        let x1 = face.x.max(0.0) as u32;
        let y1 = face.y.max(0.0) as u32;
        let x2 = ((face.x + face.width) as u32).min(w.saturating_sub(1));
        let y2 = ((face.y + face.height) as u32).min(h.saturating_sub(1));
        outline(&mut image, (x1, y1, x2, y2), thickness);
        label(&mut image, x1, y1, &format!("{:.2}", face.score), scale);
    }
    image
}

fn fill(image: &mut RgbImage, (x1, y1, x2, y2): (u32, u32, u32, u32), colour: Rgb<u8>) {
    let (w, h) = image.dimensions();
    for y in y1..y2.min(h) {
        for x in x1..x2.min(w) {
            image.put_pixel(x, y, colour);
        }
    }
}

fn outline(image: &mut RgbImage, (x1, y1, x2, y2): (u32, u32, u32, u32), t: u32) {
    fill(image, (x1, y1, x2 + 1, y1 + t), BOX_COLOUR);
    fill(
        image,
        (x1, (y2 + 1).saturating_sub(t), x2 + 1, y2 + 1),
        BOX_COLOUR,
    );
    fill(image, (x1, y1, x1 + t, y2 + 1), BOX_COLOUR);
    fill(
        image,
        ((x2 + 1).saturating_sub(t), y1, x2 + 1, y2 + 1),
        BOX_COLOUR,
    );
}

/// Text above the box's top-left corner, or inside it when the box touches the top edge.
fn label(image: &mut RgbImage, x: u32, y: u32, text: &str, scale: u32) {
    let advance = (font::WIDTH + 1) * scale;
    let height = (font::HEIGHT + 2) * scale;
    let top = if y >= height { y - height } else { y };
    let width = advance * text.chars().count() as u32 + scale;
    fill(image, (x, top, x + width, top + height), LABEL_BACKGROUND);
    for (i, c) in text.chars().enumerate() {
        let Some(rows) = font::glyph(c) else { continue };
        let left = x + scale + i as u32 * advance;
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..font::WIDTH {
                if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                    let px = left + col * scale;
                    let py = top + scale + row as u32 * scale;
                    fill(image, (px, py, px + scale, py + scale), BOX_COLOUR);
                }
            }
        }
    }
}
