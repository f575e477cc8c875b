//! Mutation fuzzing of the three readers of untrusted input, for a fixed budget: the WIDER
//! label parser, the weights reader and the photo path (decode, orientation, detection). Seeds
//! are real files; each execution mutates one (bit flips, overwritten, inserted, deleted or
//! repeated bytes, truncation, extreme 32-bit values) with a seeded generator, so a run is
//! repeatable. Every input must give a value or an error: a panic fails the test, with the
//! input written under the cargo target directory. The figures are printed
//! (`cargo test --release --test fuzz -- --nocapture`).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use burn::prelude::*;
use ssdface::data::parse_labels;
use ssdface::default_model::DEFAULT_WEIGHTS;
use ssdface::detector::Detector;
use ssdface::preprocess::{ImageView, PixelFormat};
use ssdface::{photo, weights};

/// SplitMix64: small, seeded, good enough to draw mutations.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A position in `bytes`, half the time within its first `head` bytes (headers).
    fn position(&mut self, bytes: &[u8], head: usize) -> usize {
        if self.next().is_multiple_of(2) {
            self.below(head.min(bytes.len()))
        } else {
            self.below(bytes.len())
        }
    }
}

/// One to four random mutations of `seed`.
fn mutate(seed: &[u8], random: &mut Random, head: usize) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + random.below(4) {
        if bytes.is_empty() {
            bytes.push(random.next() as u8);
        }
        let at = random.position(&bytes, head);
        match random.below(7) {
            0 => bytes[at] ^= 1 << random.below(8),
            1 => bytes[at] = random.next() as u8,
            2 => bytes.insert(at, random.next() as u8),
            3 => {
                let end = (at + 1 + random.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => bytes.truncate(at),
            5 => {
                let end = (at + 1 + random.below(32)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => {
                let value: u32 = [0, 1, u32::MAX, u32::MAX / 2, 1 << 31, 65_535][random.below(6)];
                let end = (at + 4).min(bytes.len());
                bytes.splice(at..end, value.to_le_bytes());
            }
        }
    }
    bytes
}

/// Run `target` on `executions` mutations of the seeds; return (values, errors); fail on a
/// panic, keeping the input.
fn fuzz(
    name: &str,
    seeds: &[Vec<u8>],
    executions: usize,
    head: usize,
    mut target: impl FnMut(&[u8]) -> bool,
) -> (usize, usize) {
    let mut random = Random(0x5EED ^ name.len() as u64);
    let (mut values, mut errors) = (0, 0);
    let started = std::time::Instant::now();
    for i in 0..executions {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(seed, &mut random, head);
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(true) => values += 1,
            Ok(false) => errors += 1,
            Err(_) => {
                let dir = common::scratch(&format!("fuzz-{name}"));
                let path = dir.join(format!("crash-{i}"));
                std::fs::write(&path, &input).unwrap();
                panic!(
                    "{name}: execution {i} panicked; input in {}",
                    path.display()
                );
            }
        }
    }
    println!(
        "{name}: {executions} executions in {:.1} s: {values} read, {errors} refused, 0 panics",
        started.elapsed().as_secs_f64()
    );
    (values, errors)
}

#[test]
fn the_label_parser_never_panics() {
    let labels = std::fs::read(common::data_dir().join("val/labels.txt")).unwrap();
    // Several short seeds: the start of the file and a stretch from its middle.
    let seeds = vec![
        labels[..600].to_vec(),
        labels[labels.len() / 2..labels.len() / 2 + 600].to_vec(),
        b"a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\nb.jpg\n1\n1 2 3 4\n".to_vec(),
    ];
    let (read, refused) = fuzz("labels", &seeds, 200_000, 64, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        parse_labels(&text, Path::new("images"), "labels.txt").is_ok()
    });
    assert!(read > 0 && refused > 0, "the mutations reach both outcomes");
}

#[test]
fn the_weights_reader_never_panics() {
    let device = Device::flex();
    let seeds = vec![DEFAULT_WEIGHTS.to_vec()];
    // The header and the config JSON come first: most mutations land there.
    let (read, refused) = fuzz("weights", &seeds, 15_000, 1_200, |bytes| {
        weights::from_bytes(bytes, &device).is_ok()
    });
    assert!(read > 0 && refused > 0, "the mutations reach both outcomes");
}

/// `weights` with one to three numbers of its config JSON replaced by extreme values (a stride
/// of 0, a billion channels, a negative size...), the length field fixed: valid files describing
/// absurd networks, which byte mutations seldom reach.
fn mutate_config_numbers(weights: &[u8], random: &mut Random) -> Vec<u8> {
    // Layout: 8-byte magic, u32 format version, u32 JSON length, JSON, record.
    let length = u32::from_le_bytes(weights[12..16].try_into().unwrap()) as usize;
    let mut json = String::from_utf8(weights[16..16 + length].to_vec()).unwrap();
    for _ in 0..1 + random.below(3) {
        let numbers: Vec<(usize, usize)> = json
            .match_indices(|c: char| c.is_ascii_digit())
            .map(|(i, _)| i)
            .filter(|&i| i == 0 || !json.as_bytes()[i - 1].is_ascii_digit())
            .map(|start| {
                let end = json[start..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(json.len(), |n| start + n);
                (start, end)
            })
            .collect();
        let (start, end) = numbers[random.below(numbers.len())];
        let values = [
            "0",
            "1",
            "2",
            "3",
            "7",
            "3000",
            "65536",
            "1000000000",
            "-1",
            "1e30",
            "0.0",
            "-0.5",
            "99999999999999999999",
        ];
        json.replace_range(start..end, values[random.below(values.len())]);
    }
    let mut out = weights[..12].to_vec();
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(json.as_bytes());
    out.extend(&weights[16 + length..]);
    out
}

#[test]
fn absurd_networks_in_weights_files_are_refused() {
    let device = Device::flex();
    let mut random = Random(0xC0F1);
    let (mut read, mut refused) = (0, 0);
    let started = std::time::Instant::now();
    let executions = 3_000;
    for i in 0..executions {
        let input = mutate_config_numbers(DEFAULT_WEIGHTS, &mut random);
        match catch_unwind(AssertUnwindSafe(|| {
            weights::from_bytes(&input, &device).is_ok()
        })) {
            Ok(true) => read += 1,
            Ok(false) => refused += 1,
            Err(_) => {
                let path = common::scratch("fuzz-config").join(format!("crash-{i}"));
                std::fs::write(&path, &input).unwrap();
                panic!(
                    "weights config: execution {i} panicked; input in {}",
                    path.display()
                );
            }
        }
    }
    println!(
        "weights config: {executions} executions in {:.1} s: {read} read, {refused} refused, \
         0 panics",
        started.elapsed().as_secs_f64()
    );
    assert!(read > 0 && refused > 0, "the mutations reach both outcomes");
}

#[test]
fn the_photo_path_never_panics() {
    let detector = Detector::from_weights(DEFAULT_WEIGHTS, Device::flex())
        .unwrap()
        .with_input_size(160, 120)
        .unwrap();
    let mut png = Vec::new();
    image::open(common::val_image("maksssksksss1.jpg"))
        .unwrap()
        .resize(96, 72, image::imageops::FilterType::Triangle)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let seeds = vec![
        std::fs::read(common::val_image("maksssksksss1.jpg")).unwrap(),
        std::fs::read(common::val_image("maksssksksss10.jpg")).unwrap(),
        png,
    ];
    let (read, refused) = fuzz("photos", &seeds, 5_000, 512, |bytes| {
        let Ok(rgb) = photo::decode_upright(bytes, photo::DEFAULT_MAX_PIXELS) else {
            return false;
        };
        let (w, h) = rgb.dimensions();
        match ImageView::new(rgb.as_raw(), w, h, PixelFormat::Rgb) {
            Ok(view) => detector.detect(&view).is_ok(),
            Err(_) => false,
        }
    });
    assert!(read > 0 && refused > 0, "the mutations reach both outcomes");
}
