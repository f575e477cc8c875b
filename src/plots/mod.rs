//! Pictures drawn with plotters and the bundled font: PNG line charts ([`chart`]: training
//! curves, precision-recall curves) and faces outlined on photos ([`faces`]).

pub mod chart;
pub mod faces;

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

pub use chart::{Chart, Series, line_chart};
pub use faces::draw_faces;

/// The font every picture uses, bundled so that they render the same on every machine.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

/// Registers [`FONT`] as plotters' "sans-serif", once.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // Registration only fails for unreadable font bytes, which are compiled in.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The bitmap backend's own error type.
type BitmapError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

/// Why a chart or a picture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Drawing failed.
    #[error("cannot draw: {0}")]
    Draw(#[source] DrawingAreaErrorKind<BitmapError>),
    /// The PNG could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The chart's file.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: image::ImageError,
    },
}

/// `image` encoded as `format` and written to `path` whole or not at all.
pub fn save_image(
    image: &image::RgbImage,
    path: &Path,
    format: image::ImageFormat,
) -> Result<(), image::ImageError> {
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), format)?;
    crate::files::atomic_write(path, &bytes).map_err(image::ImageError::IoError)
}
