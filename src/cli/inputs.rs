//! Turning command-line paths into the list of images to process.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Files as given, and the images inside directories (recursively, sorted by path). A folder
/// reached twice through links (a link to itself or to a parent) is listed once, so links can
/// neither loop forever nor repeat images.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            let mut visited = HashSet::new();
            collect_images(path, &mut found, &mut visited)
                .with_context(|| format!("cannot list {}", path.display()))?;
            found.sort();
            images.extend(found);
        } else {
            // Missing or unreadable files are reported per file when they are opened.
            images.push(path.clone());
        }
    }
    Ok(images)
}

fn collect_images(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    visited: &mut HashSet<PathBuf>,
) -> std::io::Result<()> {
    if !visited.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_images(&path, found, visited)?;
        } else if is_image(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}
