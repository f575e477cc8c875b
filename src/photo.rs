//! Reading a photo as its viewer shows it: decoded, turned upright by its EXIF orientation,
//! and refused when the file is cut short or claims more pixels than allowed (native, `images`
//! feature).

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

/// A photo that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The file cannot be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// A JPEG without its end: the decoder would fill the missing part with grey.
    #[error("truncated JPEG: the file ends before its end-of-image marker")]
    TruncatedJpeg,
    /// More pixels than allowed: refused before they are decoded, so that a small file claiming a
    /// huge image (a decompression bomb) costs no memory.
    #[error(
        "{width}x{height} pixels is more than the {} megapixels allowed",
        max_pixels / 1_000_000
    )]
    TooLarge {
        /// The image's width, as its header says.
        width: u32,
        /// The image's height.
        height: u32,
        /// The limit it exceeds.
        max_pixels: u64,
    },
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

/// The most pixels a photo may have by default: 200 megapixels, above what cameras and phones
/// ordinarily write (a 200-megapixel photo takes 0.6 GB as RGB pixels).
pub const DEFAULT_MAX_PIXELS: u64 = 200_000_000;

/// The photo at `path` as upright RGB pixels, if it has at most `max_pixels`.
pub fn read_upright(path: &Path, max_pixels: u64) -> Result<RgbImage, PhotoError> {
    crate::files::check_regular_file(path)?;
    decode_upright(&std::fs::read(path)?, max_pixels)
}

/// The size of the photo at `path` as shown upright (width and height swap when its EXIF
/// orientation turns it a quarter), from its header alone.
pub fn upright_dimensions(path: &Path) -> Result<(u32, u32), PhotoError> {
    use image::metadata::Orientation;

    crate::files::check_regular_file(path)?;
    let mut decoder = ImageReader::open(path)?
        .with_guessed_format()?
        .into_decoder()?;
    let (width, height) = decoder.dimensions();
    Ok(match decoder.orientation()? {
        Orientation::Rotate90
        | Orientation::Rotate270
        | Orientation::Rotate90FlipH
        | Orientation::Rotate270FlipH => (height, width),
        _ => (width, height),
    })
}

/// Encoded image bytes (JPEG or PNG) as upright RGB pixels, if they have at most `max_pixels`.
pub fn decode_upright(bytes: &[u8], max_pixels: u64) -> Result<RgbImage, PhotoError> {
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format()?;
    // The decoders' own allocation limit, raised to what `max_pixels` allows (16-bit RGBA).
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(PhotoError::TruncatedJpeg);
    }
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(PhotoError::TooLarge {
            width,
            height,
            max_pixels,
        });
    }
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
    use super::*;

    /// A `width` x `height` JPEG whose header claims `claimed` (width, height) instead.
    fn jpeg_claiming(width: u32, height: u32, claimed: (u16, u16)) -> Vec<u8> {
        let mut bytes = Vec::new();
        RgbImage::from_pixel(width, height, image::Rgb([90, 120, 150]))
            .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        // The baseline frame header: FF C0, length (2), precision (1), height (2), width (2).
        let frame = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[frame + 5..frame + 7].copy_from_slice(&claimed.1.to_be_bytes());
        bytes[frame + 7..frame + 9].copy_from_slice(&claimed.0.to_be_bytes());
        bytes
    }

    #[test]
    fn photos_with_more_pixels_than_allowed_are_refused_before_decoding() {
        let photo = jpeg_claiming(64, 48, (64, 48));
        let decoded = decode_upright(&photo, DEFAULT_MAX_PIXELS).unwrap();
        assert_eq!(decoded.dimensions(), (64, 48));
        assert!(decode_upright(&photo, 64 * 48).is_ok());
        assert!(matches!(
            decode_upright(&photo, 64 * 48 - 1),
            Err(PhotoError::TooLarge {
                width: 64,
                height: 48,
                ..
            })
        ));
        // 17 KB that claim 65500 x 65500 pixels (12.9 GB as RGB): refused, nothing allocated.
        let bomb = jpeg_claiming(64, 48, (65500, 65500));
        let error = decode_upright(&bomb, DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(
            error.to_string().contains("65500x65500")
                && error.to_string().contains("200 megapixels"),
            "{error}"
        );
    }

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
