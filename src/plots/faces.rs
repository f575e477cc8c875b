//! Faces outlined on a photo, each labelled with its score (`ssdface detect --draw`).

use plotters::prelude::*;

use super::{PlotError, register_font};

/// The photo with every face outlined and labelled with its score; lines and text grow with
/// the photo so that they stay visible on large ones.
pub fn draw_faces(
    mut image: image::RgbImage,
    faces: &[crate::detector::Face],
) -> Result<image::RgbImage, PlotError> {
    const BOX: RGBColor = RGBColor(0, 255, 0);
    register_font();
    let (w, h) = image.dimensions();
    let thickness = (w.max(h) / 300).max(2);
    let text_height = (w.max(h) / 40).max(12) as i32;
    {
        let root = BitMapBackend::with_buffer(&mut image, (w, h)).into_drawing_area();
        for face in faces {
            let (x1, y1) = (face.x as i32, face.y as i32);
            let (x2, y2) = ((face.x + face.width) as i32, (face.y + face.height) as i32);
            let outline = ShapeStyle::from(&BOX).stroke_width(thickness);
            root.draw(&Rectangle::new([(x1, y1), (x2, y2)], outline))
                .map_err(PlotError::Draw)?;
            // Above the box, or inside it when the box touches the top edge.
            let label = format!("{:.2}", face.score);
            let top = if y1 >= text_height {
                y1 - text_height
            } else {
                y1
            };
            // DejaVu Sans Mono advances 0.6 em per character.
            let width = (label.len() as f64 * 0.6 * f64::from(text_height)).ceil() as i32 + 4;
            root.draw(&Rectangle::new(
                [(x1, top), (x1 + width, top + text_height)],
                BLACK.filled(),
            ))
            .map_err(PlotError::Draw)?;
            let font = ("sans-serif", f64::from(text_height))
                .into_font()
                .color(&BOX);
            root.draw(&Text::new(label, (x1 + 2, top), font))
                .map_err(PlotError::Draw)?;
        }
        root.present().map_err(PlotError::Draw)?;
    }
    Ok(image)
}
