//! WIDER FACE's submission format: one `.txt` per image at its labels path with the extension
//! replaced, holding the image name, the box count and one `x y w h score` line per box. Written
//! by `ssdface eval`, and read back to score any detector's predictions with the same protocol.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::boxes::{Corners, Scored};
use crate::data::FaceDataset;

/// A submission file that is missing or does not follow the format.
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    /// The file cannot be read.
    #[error("cannot read {path} (every labelled image needs one, even with no boxes)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file cannot be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An image name in the labels is not a path inside the image folder, so its submission
    /// file would land outside the submission folder.
    #[error(
        "image {0:?} in the labels is absolute or climbs out with '..': its submission file would be written outside the output folder"
    )]
    OutsideName(String),
    /// Two images of the set have the same submission file.
    #[error("images {first:?} and {second:?} share the submission file {file}: rename one of them")]
    SharedFile {
        /// The first image.
        first: String,
        /// The second image.
        second: String,
        /// Their file, relative to the submission folder.
        file: PathBuf,
    },
    /// A line is not what the format expects there.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected.
        message: String,
    },
}

/// The submission file of every image of `dataset` under `dir`, in its order, checked before
/// anything is written: each inside `dir`, and no two images sharing one (`x.jpg` and `x.png`
/// would both write `x.txt`, and re-scoring would read one image's boxes for both).
pub fn submission_files(
    dir: &Path,
    dataset: &FaceDataset,
) -> Result<Vec<PathBuf>, SubmissionError> {
    let mut taken: HashMap<PathBuf, usize> = HashMap::new();
    (0..dataset.len())
        .map(|index| {
            let name = dataset.name(index);
            let inside = Path::new(name)
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            if !inside {
                return Err(SubmissionError::OutsideName(name.to_string()));
            }
            let file = Path::new(name).with_extension("txt");
            if let Some(first) = taken.insert(file.clone(), index) {
                return Err(SubmissionError::SharedFile {
                    first: dataset.name(first).to_string(),
                    second: name.to_string(),
                    file,
                });
            }
            Ok(dir.join(file))
        })
        .collect()
}

/// Write the boxes of every image of `dataset` (in its order) under `dir`.
pub fn write_submission(
    dir: &Path,
    dataset: &FaceDataset,
    predictions: &[Vec<Scored>],
) -> Result<(), SubmissionError> {
    let files = submission_files(dir, dataset)?;
    for (index, (boxes, path)) in predictions.iter().zip(files).enumerate() {
        let written = |source| SubmissionError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(written)?;
        }
        let mut text = format!("{}\n{}\n", dataset.name(index), boxes.len());
        for p in boxes {
            let b = p.bbox;
            text.push_str(&format!(
                "{:.1} {:.1} {:.1} {:.1} {:.4}\n",
                b.x1,
                b.y1,
                b.width(),
                b.height(),
                p.score
            ));
        }
        // Whole or not at all; whatever is in the way (a named pipe too) is replaced.
        crate::files::atomic_write(&path, text.as_bytes()).map_err(written)?;
    }
    Ok(())
}

/// Read the boxes of every image of `dataset` (in its order) from `dir`.
pub fn read_submission(
    dir: &Path,
    dataset: &FaceDataset,
) -> Result<Vec<Vec<Scored>>, SubmissionError> {
    submission_files(dir, dataset)?
        .into_iter()
        .map(|path| {
            let read_error = |source| SubmissionError::Read {
                path: path.clone(),
                source,
            };
            crate::files::check_regular_file(&path).map_err(read_error)?;
            let text = std::fs::read_to_string(&path).map_err(read_error)?;
            parse(&text).map_err(|(line, message)| SubmissionError::Malformed {
                path,
                line,
                message,
            })
        })
        .collect()
}

/// The boxes of one file, or the 1-based line and what is wrong with it.
fn parse(text: &str) -> Result<Vec<Scored>, (usize, String)> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    lines
        .next()
        .filter(|(_, name)| !name.is_empty())
        .ok_or((1, "expected the image name".to_string()))?;
    let (count_line, count) = lines
        .next()
        .ok_or((2, "expected the box count".to_string()))?;
    let count: usize = count
        .parse()
        .map_err(|_| (count_line, format!("expected the box count, got {count:?}")))?;
    let boxes = lines
        .filter(|(_, line)| !line.is_empty())
        .map(|(number, line)| parse_box(line).map_err(|message| (number, message)))
        .collect::<Result<Vec<_>, _>>()?;
    if boxes.len() != count {
        return Err((
            count_line,
            format!("the count says {count} boxes, the file has {}", boxes.len()),
        ));
    }
    Ok(boxes)
}

/// One `x y w h score` line.
fn parse_box(line: &str) -> Result<Scored, String> {
    let values: Vec<f32> = line
        .split_whitespace()
        .map(|v| {
            v.parse::<f32>()
                .map_err(|_| format!("{v:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let [x, y, w, h, score] = values[..] else {
        return Err(format!(
            "expected `x y w h score`, got {} values",
            values.len()
        ));
    };
    if !values.iter().all(|v| v.is_finite()) || w < 0.0 || h < 0.0 {
        return Err(format!(
            "expected finite values and a non-negative size in {line:?}"
        ));
    }
    Ok(Scored {
        bbox: Corners::from_xywh(x, y, w, h),
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A labelled folder of plain images under the system's temporary folder, listing `names`.
    fn folder_listing(test: &str, names: &[&str]) -> PathBuf {
        let folder = std::env::temp_dir().join(format!("ssdface-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(folder.join("images")).unwrap();
        let mut labels = String::new();
        for name in names {
            let path = folder.join("images").join(name);
            if !path.is_absolute() || !path.exists() {
                image::RgbImage::new(8, 8).save(&path).unwrap();
            }
            labels += &format!("{name}\n0\n0 0 0 0 0 0 0 0 0 0\n");
        }
        std::fs::write(folder.join("labels.txt"), labels).unwrap();
        folder
    }

    #[test]
    fn images_sharing_a_file_or_outside_the_folder_are_refused_before_writing() {
        let folder = folder_listing("shared-stem", &["x.jpg", "x.png"]);
        let dataset = FaceDataset::open(std::slice::from_ref(&folder)).unwrap();
        let out = folder.join("predictions");
        let error = write_submission(&out, &dataset, &[vec![], vec![]]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("share the submission file x.txt"),
            "{error}"
        );
        assert!(!out.exists(), "nothing is written");

        // An absolute name (an image elsewhere) would put its file outside `out`.
        let elsewhere = folder.join("images").join("x.png");
        let absolute = folder_listing("absolute-name", &[elsewhere.to_str().unwrap()]);
        let dataset = FaceDataset::open(std::slice::from_ref(&absolute)).unwrap();
        let error = submission_files(&absolute.join("predictions"), &dataset).unwrap_err();
        assert!(
            error.to_string().contains("absolute or climbs out"),
            "{error}"
        );
        for folder in [folder, absolute] {
            std::fs::remove_dir_all(folder).unwrap();
        }
    }

    #[test]
    fn a_named_pipe_as_a_submission_file_is_refused_on_read_and_replaced_on_write() {
        let folder = folder_listing("pipe-submission", &["x.jpg"]);
        let dataset = FaceDataset::open(std::slice::from_ref(&folder)).unwrap();
        let out = folder.join("predictions");
        std::fs::create_dir_all(&out).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(out.join("x.txt"))
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        let error = read_submission(&out, &dataset).unwrap_err();
        assert!(
            matches!(&error, SubmissionError::Read { source, .. }
            if source.to_string() == "not a regular file"),
            "{error:?}"
        );
        // Written whole in its place: the pipe is replaced, not opened.
        write_submission(&out, &dataset, &[vec![]]).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("x.txt")).unwrap(),
            "x.jpg\n0\n"
        );
        std::fs::remove_dir_all(folder).unwrap();
    }

    #[test]
    fn reads_boxes_and_names_bad_lines() {
        let boxes = parse("a/b.jpg\n2\n1 2 3 4 0.9\n5.5 6 7 8 0.25\n").unwrap();
        assert_eq!(boxes.len(), 2);
        assert_eq!(boxes[1].bbox.x2, 12.5);
        assert_eq!(boxes[1].score, 0.25);
        assert!(parse("a.jpg\n0\n").unwrap().is_empty());
        assert_eq!(parse("a.jpg\n2\n1 2 3 4 0.9\n").unwrap_err().0, 2);
        assert_eq!(parse("a.jpg\n1\n1 2 3 0.9\n").unwrap_err().0, 3);
        assert_eq!(parse("a.jpg\n1\n1 2 x 4 0.9\n").unwrap_err().0, 3);
        assert_eq!(parse("a.jpg\n1\n1 2 -3 4 0.9\n").unwrap_err().0, 3);
        assert_eq!(parse("").unwrap_err().0, 1);
    }
}
