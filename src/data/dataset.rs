//! Images and their faces from one or more WIDER FACE-format folders, decoded on demand.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::{LabelError, LabeledImage, read_labels};
use crate::boxes::Corners;
use crate::photo;

/// An image with its face boxes in pixels.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The pixels.
    pub image: RgbImage,
    /// Face boxes, pixels.
    pub faces: Vec<Corners>,
    /// Ignored faces (flagged invalid: doubtful or unannotatable), pixels: training treats the
    /// priors that match them as neither face nor background.
    pub ignored: Vec<Corners>,
}

/// What the reader kept and dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatasetStats {
    /// Images listed.
    pub images: usize,
    /// Faces listed.
    pub faces: usize,
    /// Faces flagged invalid, kept as ignored regions rather than targets.
    pub invalid: usize,
    /// Faces dropped because they are under 1 pixel wide or high after clipping to the image.
    pub degenerate: usize,
}

impl DatasetStats {
    /// Faces kept as training targets.
    pub fn kept(&self) -> usize {
        self.faces - self.invalid - self.degenerate
    }
}

impl std::fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} images, {} faces kept of {} ({} flagged invalid and ignored, {} under 1 px after \
             clipping)",
            self.images,
            self.kept(),
            self.faces,
            self.invalid,
            self.degenerate
        )
    }
}

/// Why a dataset could not be opened or an image loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A labels file is missing or malformed.
    #[error(transparent)]
    Labels(#[from] LabelError),
    /// A folder has no `labels.txt`.
    #[error("{0}: no labels.txt (expected WIDER FACE layout: labels.txt and images/)")]
    NoLabels(PathBuf),
    /// A listed image cannot be read.
    #[error("{path}: {message}")]
    Image {
        /// The image.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// One image's training targets.
#[derive(Clone, Debug)]
struct Entry {
    path: PathBuf,
    name: String,
    faces: Vec<Corners>,
    ignored: Vec<Corners>,
    /// Every listed face, in source pixels, with its invalid flag (for evaluation).
    labels: Vec<(Corners, bool)>,
}

/// Labelled images; invalid faces become ignored regions and degenerate ones are dropped.
#[derive(Clone, Debug)]
pub struct FaceDataset {
    entries: Vec<Entry>,
    stats: DatasetStats,
}

impl FaceDataset {
    /// Read `labels.txt` of every folder (images under its `images/`) and check that every
    /// image can be opened.
    pub fn open(folders: &[PathBuf]) -> Result<Self, DatasetError> {
        let mut entries = Vec::new();
        let mut stats = DatasetStats::default();
        for folder in folders {
            let labels = folder.join("labels.txt");
            if !labels.is_file() {
                return Err(DatasetError::NoLabels(folder.clone()));
            }
            for image in read_labels(&labels)? {
                entries.push(Self::entry(image, &mut stats)?);
            }
        }
        Ok(Self { entries, stats })
    }

    fn entry(image: LabeledImage, stats: &mut DatasetStats) -> Result<Entry, DatasetError> {
        // Labels are in the photo's pixels as shown upright, as `detect` reads it.
        let (w, h) = photo::upright_dimensions(&image.path).map_err(|e| DatasetError::Image {
            path: image.path.clone(),
            message: e.to_string(),
        })?;
        stats.images += 1;
        stats.faces += image.faces.len();
        let mut faces = Vec::new();
        let mut ignored = Vec::new();
        for face in &image.faces {
            let clipped = face.bbox.clip(w as f32, h as f32);
            if clipped.width() < 1.0 || clipped.height() < 1.0 {
                stats.degenerate += 1;
            } else if face.invalid {
                stats.invalid += 1;
                ignored.push(clipped);
            } else {
                faces.push(clipped);
            }
        }
        Ok(Entry {
            labels: image.faces.iter().map(|f| (f.bbox, f.invalid)).collect(),
            path: image.path,
            name: image.name,
            faces,
            ignored,
        })
    }

    /// What was kept and dropped.
    pub fn stats(&self) -> DatasetStats {
        self.stats
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first `n` images only (for quick runs and tests).
    pub fn truncated(mut self, n: usize) -> Self {
        self.entries.truncate(n);
        self
    }

    /// The image file of entry `index`.
    pub fn path(&self, index: usize) -> &Path {
        &self.entries[index].path
    }

    /// The image's path as written in its labels file.
    pub fn name(&self, index: usize) -> &str {
        &self.entries[index].name
    }

    /// Every listed face of entry `index` (source pixels) and whether it is flagged invalid.
    pub fn labels(&self, index: usize) -> &[(Corners, bool)] {
        &self.entries[index].labels
    }

    /// Decode entry `index` with its kept faces.
    pub fn load(&self, index: usize) -> Result<Sample, DatasetError> {
        let entry = &self.entries[index];
        // Upright, whole and of a bounded size, as `detect` reads photos.
        let image = photo::read_upright(&entry.path, photo::DEFAULT_MAX_PIXELS).map_err(|e| {
            DatasetError::Image {
                path: entry.path.clone(),
                message: e.to_string(),
            }
        })?;
        Ok(Sample {
            image,
            faces: entry.faces.clone(),
            ignored: entry.ignored.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_it_drops() {
        let dir = std::env::temp_dir().join("ssdface-dataset-counts");
        let images = dir.join("images");
        std::fs::create_dir_all(&images).unwrap();
        RgbImage::new(100, 50).save(images.join("a.png")).unwrap();
        std::fs::write(
            dir.join("labels.txt"),
            "a.png\n4\n\
             10 10 20 20 0 0 0 0 0 0\n\
             90 40 30 30 0 0 0 0 0 0\n\
             99.5 10 5 5 0 0 0 0 0 0\n\
             5 5 10 10 0 0 0 1 0 0\n",
        )
        .unwrap();
        let dataset = FaceDataset::open(std::slice::from_ref(&dir)).unwrap();
        let stats = dataset.stats();
        assert_eq!(
            stats,
            DatasetStats {
                images: 1,
                faces: 4,
                invalid: 1,
                degenerate: 1
            }
        );
        let sample = dataset.load(0).unwrap();
        // The second face is clipped to the image; the third is 0.5 px wide after clipping.
        assert_eq!(
            sample.faces,
            vec![
                Corners::new(10.0, 10.0, 30.0, 30.0),
                Corners::new(90.0, 40.0, 100.0, 50.0)
            ]
        );
        assert_eq!(sample.ignored, vec![Corners::new(5.0, 5.0, 15.0, 15.0)]);
        assert_eq!(
            stats.to_string(),
            "1 images, 2 faces kept of 4 (1 flagged invalid and ignored, 1 under 1 px after \
             clipping)"
        );
    }

    #[test]
    fn a_missing_image_is_named() {
        let dir = std::env::temp_dir().join("ssdface-dataset-missing");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("labels.txt"), "gone.jpg\n0\n").unwrap();
        let error = FaceDataset::open(&[dir]).unwrap_err().to_string();
        assert!(error.contains("gone.jpg"), "{error}");
    }
}
