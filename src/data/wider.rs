//! Reader for WIDER FACE's `bbx_gt` text format:
//!
//! ```text
//! <image path, relative to the images folder>
//! <number of faces N>
//! x y w h blur expression illumination invalid occlusion pose     (N lines)
//! ```
//!
//! An image with no face has a count of 0 followed by one line of ten zeros.

use std::path::{Path, PathBuf};

use crate::boxes::Corners;

/// One annotated face: its box in image pixels and WIDER's attribute flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceLabel {
    /// The box (`x y w h` of the file).
    pub bbox: Corners,
    /// WIDER's `invalid` flag: the face is ignored in training and in evaluation.
    pub invalid: bool,
    /// The remaining attributes: blur, expression, illumination, occlusion, pose.
    pub attributes: [u8; 5],
}

/// An image and its faces.
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledImage {
    /// The image file (the labels' path joined to the images folder).
    pub path: PathBuf,
    /// The path exactly as written in the labels file.
    pub name: String,
    /// Every face listed for the image, as listed.
    pub faces: Vec<FaceLabel>,
}

/// A labels file that does not follow the format, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// A line that cannot be read.
    #[error("{file}:{line}: {message}")]
    Malformed {
        /// The labels file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file cannot be read at all.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The labels file.
        file: String,
        /// The failure.
        source: std::io::Error,
    },
}

/// Read a `labels.txt`; image paths resolve against `images/` beside it.
pub fn read_labels(labels_file: &Path) -> Result<Vec<LabeledImage>, LabelError> {
    let text = std::fs::read_to_string(labels_file).map_err(|source| LabelError::Io {
        file: labels_file.display().to_string(),
        source,
    })?;
    let images_dir = labels_file
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("images");
    parse_labels(&text, &images_dir, &labels_file.display().to_string())
}

/// Parse labels text; `file` names the source in error messages.
pub fn parse_labels(
    text: &str,
    images_dir: &Path,
    file: &str,
) -> Result<Vec<LabeledImage>, LabelError> {
    // A byte-order mark (as some Windows editors save text) is no part of the first image's
    // name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .peekable();
    let error = |line: usize, message: String| LabelError::Malformed {
        file: file.to_string(),
        line,
        message,
    };
    let mut images = Vec::new();
    while let Some((path_line, name)) = lines.next() {
        if looks_numeric(name) {
            return Err(error(
                path_line,
                format!("expected an image path, found {name:?}"),
            ));
        }
        let (count_line, count_text) = lines
            .next()
            .ok_or_else(|| error(path_line, format!("{name}: missing the face count")))?;
        let count: usize = count_text.parse().map_err(|_| {
            error(
                count_line,
                format!("{name}: face count {count_text:?} is not a whole number"),
            )
        })?;
        // Grown as faces are listed: the count is the file's claim, and a huge one must end in
        // the "announced, listed" error below, not in an allocation of its size.
        let mut faces = Vec::new();
        for _ in 0..count {
            let short = |listed: usize| {
                error(
                    count_line,
                    format!("{name}: {count} faces announced, {listed} listed"),
                )
            };
            // A single word that is not a number where a face was due is the next image's
            // path: the count is what is wrong.
            let (line, text) = lines
                .next_if(|(_, text)| text.split_whitespace().count() > 1 || looks_numeric(text))
                .ok_or_else(|| short(faces.len()))?;
            faces.push(parse_face(text).map_err(|m| error(line, format!("{name}: {m}")))?);
        }
        if count == 0 {
            // WIDER writes a line of zeros after a zero count; tolerate its absence.
            if let Some(&(_, next)) = lines.peek()
                && parse_face(next).is_ok_and(|f| f.bbox.area() == 0.0)
            {
                lines.next();
            }
        }
        images.push(LabeledImage {
            path: images_dir.join(name),
            name: name.to_string(),
            faces,
        });
    }
    Ok(images)
}

fn looks_numeric(text: &str) -> bool {
    text.split_whitespace()
        .all(|word| word.parse::<f64>().is_ok())
}

fn parse_face(text: &str) -> Result<FaceLabel, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() != 10 && words.len() != 4 {
        return Err(format!(
            "a face line needs 10 numbers (x y w h blur expression illumination invalid \
             occlusion pose), found {}: {text:?}",
            words.len()
        ));
    }
    let number = |i: usize| {
        words[i]
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{:?} is not a number in {text:?}", words[i]))
    };
    let (x, y, w, h) = (number(0)?, number(1)?, number(2)?, number(3)?);
    if w < 0.0 || h < 0.0 {
        return Err(format!("negative box size in {text:?}"));
    }
    let mut flags = [0u8; 6];
    for (slot, i) in flags.iter_mut().zip(4..words.len()) {
        *slot = words[i].parse::<u8>().map_err(|_| {
            format!(
                "attribute {:?} is not a small whole number in {text:?}",
                words[i]
            )
        })?;
    }
    let [blur, expression, illumination, invalid, occlusion, pose] = flags;
    Ok(FaceLabel {
        bbox: Corners::from_xywh(x, y, w, h),
        invalid: invalid != 0,
        attributes: [blur, expression, illumination, occlusion, pose],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "\
a/one.jpg
2
10 20 30 40 0 0 0 0 0 0
50 60 5 6 1 0 0 1 0 0
b/none.jpg
0
0 0 0 0 0 0 0 0 0 0
c/last.jpg
1
1 2 3 4 0 0 0 0 0 0
";

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_name() {
        let with_mark = format!("\u{feff}{VALID}");
        let images = parse_labels(&with_mark, Path::new("/data/images"), "labels.txt").unwrap();
        assert_eq!(images[0].name, "a/one.jpg");
        assert_eq!(images[0].path, Path::new("/data/images/a/one.jpg"));
    }

    #[test]
    fn reads_a_valid_file() {
        let images = parse_labels(VALID, Path::new("/data/images"), "labels.txt").unwrap();
        assert_eq!(images.len(), 3);
        assert_eq!(images[0].path, Path::new("/data/images/a/one.jpg"));
        assert_eq!(images[0].name, "a/one.jpg");
        assert_eq!(images[0].faces.len(), 2);
        assert_eq!(
            images[0].faces[0].bbox,
            Corners::new(10.0, 20.0, 40.0, 60.0)
        );
        assert!(!images[0].faces[0].invalid);
        assert!(images[0].faces[1].invalid);
        assert_eq!(images[0].faces[1].attributes, [1, 0, 0, 0, 0]);
        assert!(images[1].faces.is_empty());
        assert_eq!(images[2].faces[0].bbox, Corners::new(1.0, 2.0, 4.0, 6.0));
    }

    #[test]
    fn a_zero_count_without_the_zero_line_is_accepted() {
        let text = "x.jpg\n0\ny.jpg\n1\n1 1 2 2 0 0 0 0 0 0\n";
        let images = parse_labels(text, Path::new("i"), "l").unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[1].faces.len(), 1);
    }

    fn error_of(text: &str) -> String {
        parse_labels(text, Path::new("i"), "labels.txt")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let e = error_of("a.jpg\n1\n10 20 30 0 0 0 0 0 0\n");
        assert!(
            e.starts_with("labels.txt:3: a.jpg: a face line needs 10 numbers"),
            "{e}"
        );

        let e = error_of("a.jpg\ntwo\n");
        assert!(
            e.starts_with("labels.txt:2: a.jpg: face count \"two\""),
            "{e}"
        );

        let e = error_of("a.jpg\n1\n10 20 x 40 0 0 0 0 0 0\n");
        assert!(
            e.starts_with("labels.txt:3:") && e.contains("\"x\" is not a number"),
            "{e}"
        );

        let e = error_of("a.jpg\n3\n1 1 1 1 0 0 0 0 0 0\n");
        assert!(e.contains("3 faces announced, 1 listed"), "{e}");

        // A count too high in the middle of the file is reported at the count.
        let e = error_of("a.jpg\n3\n1 1 1 1 0 0 0 0 0 0\nb.jpg\n0\n");
        assert!(
            e.starts_with("labels.txt:2: a.jpg: 3 faces announced, 1 listed"),
            "{e}"
        );

        // Counts far beyond the lines listed (1e10 would once allocate 240 GB, 1e19 overflow
        // the capacity) are the same error.
        for count in ["10000000000", "10000000000000000000"] {
            let e = error_of(&format!("a.jpg\n{count}\n1 1 1 1 0 0 0 0 0 0\n"));
            assert!(
                e.contains(&format!("{count} faces announced, 1 listed")),
                "{e}"
            );
        }

        let e = error_of("a.jpg\n1\n1 1 -5 1 0 0 0 0 0 0\n");
        assert!(e.contains("negative box size"), "{e}");

        let e = error_of("a.jpg\n1\n1 1 1 1 0 0 0 0 0 0\n1 1 1 1 0 0 0 0 0 0\n");
        assert!(e.starts_with("labels.txt:4: expected an image path"), "{e}");
    }

    /// The repository root, read when the test runs: a compiled-in path would point at whichever
    /// checkout built a test binary that a shared target folder still holds.
    fn repo_root() -> PathBuf {
        std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .expect("CARGO_MANIFEST_DIR is set by cargo for the tests it runs")
    }

    #[test]
    fn reads_the_shared_validation_labels() {
        let file = repo_root().join("../shared/data/val/labels.txt");
        let images = read_labels(&file).unwrap();
        // The data README: 133 images, 560 faces.
        assert_eq!(images.len(), 133);
        assert_eq!(images.iter().map(|i| i.faces.len()).sum::<usize>(), 560);
        assert!(
            images.iter().all(|i| i.path.is_file()),
            "every listed image exists"
        );
    }

    /// The held-back tenth of each folder of ordinary photos (`labels/holdout/`, a yardstick no
    /// model trains on): read back like the teacher's folders, no photo in both, and together
    /// every photo of the source folder.
    #[test]
    fn the_held_back_photos_are_in_no_training_folder() {
        let root = repo_root();
        let mut held_back_photos = 0;
        for name in ["shanghaitech", "wider-test", "caltech-webfaces"] {
            let read = |parent: &str| {
                let images = read_labels(&root.join(parent).join(name).join("labels.txt")).unwrap();
                assert!(images.iter().all(|i| i.path.is_file()), "{parent}/{name}");
                images
                    .into_iter()
                    .map(|i| i.name)
                    .collect::<std::collections::BTreeSet<_>>()
            };
            let (training, held_back) = (read("labels/teacher"), read("labels/holdout"));
            let all = std::fs::read_dir(root.join("labels/teacher").join(name).join("images"))
                .unwrap()
                .count();
            assert!(training.is_disjoint(&held_back), "{name}");
            assert_eq!(training.len() + held_back.len(), all, "{name}");
            // About a tenth (the first byte of each name's MD5 below 26).
            let share = held_back.len() as f64 / all as f64;
            assert!((0.05..0.15).contains(&share), "{name}: {share}");
            held_back_photos += held_back.len();
        }
        // labels/holdout/all: the three together, as one folder for `--val` and `eval`.
        let together = read_labels(&root.join("labels/holdout/all/labels.txt")).unwrap();
        assert_eq!(together.len(), held_back_photos);
        assert!(together.iter().all(|i| i.path.is_file()));
    }

    /// The teacher's labels (`tools/teacher_labels.py`, committed under `labels/teacher/`)
    /// read back through this reader: every image is there, and every face agrees with the
    /// keypoints file written beside it (same faces, same order; doubtful teacher faces flagged
    /// invalid, confident ones not; a completed folder keeps its original labels first, each
    /// with its own box or a confident teacher box overlapping it, and its own flag, except
    /// that in `humanfaces` a label the teacher does not confirm is ignored).
    #[test]
    fn the_teacher_labels_read_back_with_their_keypoints() {
        let root = repo_root();
        let shared = root.join("../shared/data");
        // (folder, the labels it completes, whether labels the teacher does not confirm are
        // ignored)
        let folders = [
            ("shanghaitech", None, false),
            ("wider-test", None, false),
            ("caltech-webfaces", None, false),
            ("train", Some(shared.join("train/labels.txt")), false),
            (
                "humanfaces",
                Some(shared.join("humanfaces/labels.txt")),
                true,
            ),
        ];
        for (name, original, unconfirmed_ignored) in folders {
            let folder = root.join("labels/teacher").join(name);
            let images = read_labels(&folder.join("labels.txt")).unwrap();
            assert!(!images.is_empty(), "{name}");
            let keypoints = std::fs::read_to_string(folder.join("keypoints.txt")).unwrap();
            let mut lines = keypoints.lines();
            let original = original.map(|labels| read_labels(&labels).unwrap());
            for (index, image) in images.iter().enumerate() {
                assert!(image.path.is_file(), "{}", image.path.display());
                assert_eq!(lines.next(), Some(image.name.as_str()));
                let count: usize = lines.next().unwrap().parse().unwrap();
                assert_eq!(count, image.faces.len(), "{name}/{}", image.name);
                let labelled = original.as_ref().map(|o| &o[index]);
                if let Some(labelled) = labelled {
                    assert_eq!(labelled.name, image.name);
                    assert!(
                        labelled.faces.len() <= image.faces.len(),
                        "{name}/{}",
                        image.name
                    );
                }
                for (k, face) in image.faces.iter().enumerate() {
                    let values: Vec<f32> = lines
                        .next()
                        .unwrap()
                        .split_whitespace()
                        .map(|v| v.parse().unwrap())
                        .collect();
                    assert_eq!(values.len(), 15);
                    let b = face.bbox;
                    for (got, want) in values[..4].iter().zip([b.x1, b.y1, b.width(), b.height()]) {
                        assert!(
                            (got - want).abs() < 0.02,
                            "{name}/{}: {values:?}",
                            image.name
                        );
                    }
                    let score = values[4];
                    if let Some(label) = labelled.and_then(|o| o.faces.get(k)) {
                        let confirmed = score != -1.0;
                        let ignored = label.invalid || (unconfirmed_ignored && !confirmed);
                        assert_eq!(face.invalid, ignored, "{name}/{}", image.name);
                        if !confirmed {
                            assert_eq!(face.bbox, label.bbox, "{name}/{}", image.name);
                        } else {
                            // Restyled: a confident teacher box on the same face.
                            assert!(score >= 0.5, "{name}/{}: {score}", image.name);
                            let overlap = crate::boxes::iou(&face.bbox, &label.bbox);
                            assert!(overlap >= 0.49, "{name}/{}: IoU {overlap}", image.name);
                        }
                    } else {
                        assert!((0.3..=1.0).contains(&score), "{score}");
                        // Scores are written to 3 decimals: no verdict within rounding of 0.5.
                        if (score - 0.5).abs() > 1e-3 {
                            assert_eq!(face.invalid, score < 0.5, "{name}/{}", image.name);
                        }
                    }
                }
            }
            assert_eq!(lines.next(), None, "{name}: keypoints left over");
        }
    }
}
