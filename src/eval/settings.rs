//! WIDER FACE's easy, medium and hard settings: one labelled folder per setting (`easy/`,
//! `medium/`, `hard/`), the same images in the same order, with the faces outside the setting
//! flagged invalid. A detector runs once; its boxes are scored against each setting.

use std::path::{Path, PathBuf};

use crate::data::{DatasetError, FaceDataset};

/// The settings, in report order.
pub const WIDER_SETTINGS: [&str; 3] = ["easy", "medium", "hard"];

/// Why a folder of settings cannot be scored together.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A setting's labels cannot be read.
    #[error(transparent)]
    Data(#[from] DatasetError),
    /// A setting lists other images than the first setting.
    #[error(
        "{setting}: image {index} is {found:?} where {first} lists {expected:?} (the settings must \
         list the same images in the same order)"
    )]
    DifferentImages {
        /// The setting that differs.
        setting: String,
        /// The first setting.
        first: String,
        /// 0-based image position.
        index: usize,
        /// The first setting's image there.
        expected: String,
        /// This setting's image there (empty past its end).
        found: String,
    },
}

/// The setting folders under `dir` when it holds all three (each with a `labels.txt`).
pub fn setting_folders(dir: &Path) -> Option<Vec<(&'static str, PathBuf)>> {
    let folders: Vec<_> = WIDER_SETTINGS
        .iter()
        .map(|&name| (name, dir.join(name)))
        .collect();
    folders
        .iter()
        .all(|(_, folder)| folder.join("labels.txt").is_file())
        .then_some(folders)
}

/// Open every setting and check that they list the same images in the same order.
pub fn open_settings(
    settings: &[(&str, PathBuf)],
) -> Result<Vec<(String, FaceDataset)>, SettingsError> {
    let mut opened: Vec<(String, FaceDataset)> = Vec::with_capacity(settings.len());
    for (name, folder) in settings {
        let dataset = FaceDataset::open(std::slice::from_ref(folder))?;
        if let Some((first, reference)) = opened.first() {
            let count = reference.len().max(dataset.len());
            if let Some(index) = (0..count).find(|&i| {
                i >= reference.len() || i >= dataset.len() || reference.name(i) != dataset.name(i)
            }) {
                let name_at = |d: &FaceDataset| {
                    if index < d.len() {
                        d.name(index).to_string()
                    } else {
                        String::new()
                    }
                };
                return Err(SettingsError::DifferentImages {
                    setting: name.to_string(),
                    first: first.clone(),
                    index,
                    expected: name_at(reference),
                    found: name_at(&dataset),
                });
            }
        }
        opened.push((name.to_string(), dataset));
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(root: &Path, name: &str, labels: &str) {
        let dir = root.join(name);
        std::fs::create_dir_all(dir.join("images")).unwrap();
        for image in ["a.png", "b.png"] {
            image::RgbImage::new(8, 8)
                .save(dir.join("images").join(image))
                .unwrap();
        }
        std::fs::write(dir.join("labels.txt"), labels).unwrap();
    }

    #[test]
    fn finds_the_three_settings_and_checks_their_images() {
        let root = std::env::temp_dir().join("ssdface-settings");
        let _ = std::fs::remove_dir_all(&root);
        let labels = "a.png\n1\n1 1 4 4 0 0 0 0 0 0\nb.png\n0\n";
        folder(&root, "easy", labels);
        folder(&root, "medium", labels);
        assert!(setting_folders(&root).is_none(), "hard/ is missing");
        folder(&root, "hard", "b.png\n0\na.png\n0\n");
        let settings = setting_folders(&root).unwrap();
        assert_eq!(
            settings.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            WIDER_SETTINGS
        );
        let error = open_settings(&settings).unwrap_err().to_string();
        assert!(
            error.starts_with("hard: image 0 is \"b.png\" where easy lists \"a.png\""),
            "{error}"
        );
        folder(&root, "hard", labels);
        let opened = open_settings(&settings).unwrap();
        assert_eq!(opened.len(), 3);
        assert_eq!(opened[2].0, "hard");
    }
}
