//! Reading a photo as its viewer shows it: decoded, turned upright by its EXIF orientation,
//! and refused when the file is cut short (native, `images` feature).

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

/// A photo that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The file cannot be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// A JPEG without its end: the decoder would fill the missing part with grey.
    #[error("truncated JPEG: the file ends before its end-of-image marker")]
    TruncatedJpeg,
    /// Not an image format this build reads, or corrupt data.
    #[error("{0}")]
    Decode(String),
}

impl From<ImageError> for PhotoError {
    fn from(error: ImageError) -> Self {
        // The image crate's message already includes its cause: one line, said once.
        Self::Decode(error.to_string().trim_end().to_string())
    }
}

/// The photo at `path` as upright RGB pixels.
pub fn read_upright(path: &Path) -> Result<RgbImage, PhotoError> {
    decode_upright(&std::fs::read(path)?)
}

/// Encoded image bytes (JPEG or PNG) as upright RGB pixels.
pub fn decode_upright(bytes: &[u8]) -> Result<RgbImage, PhotoError> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(PhotoError::TruncatedJpeg);
    }
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    // Phones store photos sideways and say so in EXIF; boxes must fit the photo as shown.
    image.apply_orientation(orientation);
    Ok(image.to_rgb8())
}

/// Whether a JPEG's last scan is followed by an end-of-image marker (`FF D9`). Entropy-coded
/// data never holds `FF D9` (a data `FF` is followed by `00`), so its absence after the last
/// start-of-scan (`FF DA`) means the file was cut; trailing bytes after the marker are fine.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let marker = |m: u8| bytes.windows(2).rposition(|w| w == [0xFF, m]);
    match (marker(0xDA), marker(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::jpeg_is_complete;

    #[test]
    fn a_jpeg_cut_after_its_scan_started_is_incomplete() {
        let whole = [0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xD9];
        assert!(jpeg_is_complete(&whole));
        assert!(jpeg_is_complete(&[&whole[..], &[0, 0, 7]].concat()));
        assert!(!jpeg_is_complete(&whole[..8]));
        // A thumbnail's end marker before the main scan does not count.
        let thumbnail_then_cut = [0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xDA, 1, 2];
        assert!(!jpeg_is_complete(&thumbnail_then_cut));
    }
}
