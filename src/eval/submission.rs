//! WIDER FACE's submission format: one `.txt` per image at its labels path with the extension
//! replaced, holding the image name, the box count and one `x y w h score` line per box. Written
//! by `ssdface eval`, and read back to score any detector's predictions with the same protocol.

use std::path::{Path, PathBuf};

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

/// The submission file of image `index` under `dir`.
fn file_for(dir: &Path, dataset: &FaceDataset, index: usize) -> PathBuf {
    dir.join(Path::new(dataset.name(index)).with_extension("txt"))
}

/// Write the boxes of every image of `dataset` (in its order) under `dir`.
pub fn write_submission(
    dir: &Path,
    dataset: &FaceDataset,
    predictions: &[Vec<Scored>],
) -> std::io::Result<()> {
    for (index, boxes) in predictions.iter().enumerate() {
        let path = file_for(dir, dataset, index);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
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
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Read the boxes of every image of `dataset` (in its order) from `dir`.
pub fn read_submission(
    dir: &Path,
    dataset: &FaceDataset,
) -> Result<Vec<Vec<Scored>>, SubmissionError> {
    (0..dataset.len())
        .map(|index| {
            let path = file_for(dir, dataset, index);
            let text = std::fs::read_to_string(&path).map_err(|source| SubmissionError::Read {
                path: path.clone(),
                source,
            })?;
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
    use super::parse;

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
