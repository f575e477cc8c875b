//! The npm package as users get it: `npm pack` of `pkg/`, installed from the tarball into the
//! fixtures of `tests/browser/npm/`, then a Vite build, a plain page and a worker in headless
//! Chromium detecting like the native CLI, and TypeScript checking right and wrong uses.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use ssdface::data::FaceDataset;
use ssdface::train::LAST_WEIGHTS;

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What a page downloads to detect on one backend: that backend's module (weights inside) and
/// the package's JavaScript (both modules' bindings among it).
struct Download {
    backend: &'static str,
    files: [&'static str; 6],
    /// Bytes it may not grow past unnoticed, raw and gzipped.
    budget: (usize, usize),
}

const DOWNLOADS: [Download; 2] = [
    Download {
        backend: "cpu",
        files: [
            "ssdface_cpu_bg.wasm",
            "ssdface_cpu.js",
            "ssdface.js",
            "index.js",
            "draw.js",
            "video.js",
        ],
        budget: (3 << 20, 1_300_000),
    },
    Download {
        backend: "webgpu",
        files: [
            "ssdface_bg.wasm",
            "ssdface.js",
            "ssdface_cpu.js",
            "index.js",
            "draw.js",
            "video.js",
        ],
        budget: (16 << 20, 3_500_000),
    },
];

fn gzipped_size(path: &Path) -> usize {
    let gzip = Command::new("gzip").arg("-9c").arg(path).output().unwrap();
    assert!(gzip.status.success());
    gzip.stdout.len()
}

const TSC_ARGS: [&str; 11] = [
    "tsc",
    "--noEmit",
    "--strict",
    "--target",
    "ES2022",
    "--module",
    "ESNext",
    "--moduleResolution",
    "bundler",
    "--lib",
    "ES2022,DOM",
];

#[test]
fn the_packed_package_works_in_a_vite_app_a_plain_page_a_worker_and_typescript() {
    let root = common::repo_root();
    let fixtures = root.join("tests/browser");
    common::require_browser_tools();
    let dir = common::scratch("npm_package");
    let run = dir.join("run");
    common::train_tiny(&run);
    let weights = run.join(LAST_WEIGHTS);
    common::build_web();

    // Pack, and report the size budget of what a site downloads.
    let pack = run_in(
        &root.join("pkg"),
        "npm",
        &[
            "pack",
            "--json",
            "--pack-destination",
            dir.to_str().unwrap(),
        ],
    );
    common::assert_success(&pack, "npm pack");
    let packed: serde_json::Value = serde_json::from_slice(&pack.stdout).unwrap();
    let files: Vec<&str> = packed[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for wanted in [
        "package.json",
        "index.js",
        "index.d.ts",
        "worker.js",
        "draw.js",
        "video.js",
        "ssdface.js",
        "ssdface_bg.wasm",
        "ssdface_cpu.js",
        "ssdface_cpu_bg.wasm",
    ] {
        assert!(files.contains(&wanted), "{wanted} is not packed: {files:?}");
    }
    for download in DOWNLOADS {
        let (mut raw, mut gzipped) = (0, 0);
        for file in download.files {
            let path = root.join("pkg").join(file);
            let size = std::fs::metadata(&path).unwrap().len() as usize;
            let packed_size = gzipped_size(&path);
            println!("{file}: {size} bytes, {packed_size} gzipped");
            raw += size;
            gzipped += packed_size;
        }
        let (raw_budget, gzipped_budget) = download.budget;
        println!(
            "download on {} (module with the weights, and JS): {raw} bytes, {gzipped} gzipped",
            download.backend
        );
        assert!(
            raw <= raw_budget && gzipped <= gzipped_budget,
            "the {} download is over its budget of {raw_budget} bytes, {gzipped_budget} gzipped",
            download.backend
        );
    }
    let tarball = dir.join(packed[0]["filename"].as_str().unwrap());

    // Install from the tarball only: no registry needed.
    let install = run_in(
        &fixtures,
        "npm",
        &[
            "install",
            "--no-save",
            "--offline",
            "--no-audit",
            "--no-fund",
            tarball.to_str().unwrap(),
        ],
    );
    common::assert_success(&install, "npm install");

    let examples = write_readme_example_pages(&fixtures.join("npm/app"));
    let dist = dir.join("dist");
    let vite = run_in(
        &fixtures,
        "npx",
        &[
            "--no-install",
            "vite",
            "build",
            "npm/app",
            "--outDir",
            dist.to_str().unwrap(),
            "--emptyOutDir",
        ],
    );
    common::assert_success(&vite, "vite build");

    let good = run_in(
        &fixtures,
        "npx",
        &[&["--no-install"][..], &TSC_ARGS, &["npm/types/ok.ts"]].concat(),
    );
    common::assert_success(&good, "tsc on the documented use");
    let bad = run_in(
        &fixtures,
        "npx",
        &[&["--no-install"][..], &TSC_ARGS, &["npm/types/bad.ts"]].concat(),
    );
    let errors = text(&bad);
    assert!(!bad.status.success(), "wrong uses type-check");
    for code in ["TS2322", "TS2345", "TS2339", "TS2673", "TS2353"] {
        assert!(errors.contains(code), "no {code} among:\n{errors}");
    }

    // The README's example runs the bundled model; a site's own weights go through `weights`.
    let photo = common::val_image("maksssksksss10.jpg");
    let native_json = dir.join("native.json");
    common::write_native_faces(&photo, &[], &native_json);
    let custom_photo = FaceDataset::open(&common::tiny_data().train)
        .unwrap()
        .path(0)
        .to_path_buf();
    let custom_json = dir.join("custom.json");
    common::write_native_faces(
        &custom_photo,
        &["--weights".as_ref(), weights.as_os_str()],
        &custom_json,
    );
    common::run_node_checks(
        "npm.mjs",
        &[
            ("SSDFACE_DIST", &dist),
            ("SSDFACE_PHOTO", &photo),
            ("SSDFACE_NATIVE_JSON", &native_json),
            ("SSDFACE_CUSTOM_WEIGHTS", &weights),
            ("SSDFACE_CUSTOM_PHOTO", &custom_photo),
            ("SSDFACE_CUSTOM_JSON", &custom_json),
            ("SSDFACE_EXAMPLES", Path::new(&examples.join(","))),
            ("SSDFACE_CAMERA_VIDEO", &dir.join("camera.y4m")),
        ],
    );
}

/// Each JavaScript example of the package README, verbatim, as a page of the Vite app in
/// `app/readme/` (`example-N.html` running `example-N.js`); the pages' paths, from `app`.
fn write_readme_example_pages(app: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(common::repo_root().join("pkg/README.md")).unwrap();
    let folder = app.join("readme");
    match std::fs::remove_dir_all(&folder) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", folder.display()),
        _ => {}
    }
    std::fs::create_dir_all(&folder).unwrap();
    let mut pages = Vec::new();
    for (number, block) in readme_js_blocks(&readme).into_iter().enumerate() {
        let name = format!("example-{}", number + 1);
        std::fs::write(folder.join(format!("{name}.js")), block.join("\n") + "\n").unwrap();
        std::fs::write(
            folder.join(format!("{name}.html")),
            format!(
                "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{name}</title>\
                 <link rel=\"icon\" href=\"data:,\"></head>\n\
                 <body><script type=\"module\" src=\"./{name}.js\"></script></body>\n</html>\n"
            ),
        )
        .unwrap();
        pages.push(format!("readme/{name}.html"));
    }
    pages
}

/// The JavaScript blocks (` ```js `) of a README, each as its lines.
fn readme_js_blocks(readme: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```js") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => block.push(line),
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_readmes_examples_are_the_ones_the_package_test_runs() {
    // The package test runs every example of the package README as written there; the top
    // README's examples must be copies of those.
    let root = common::repo_root();
    let read = |file: &str| std::fs::read_to_string(root.join(file)).unwrap();
    let package_readme = read("pkg/README.md");
    let examples = readme_js_blocks(&package_readme);
    assert!(
        examples.len() >= 3,
        "{} examples in the package README",
        examples.len()
    );
    let top_readme = read("README.md");
    let top_blocks = readme_js_blocks(&top_readme);
    assert!(
        !top_blocks.is_empty(),
        "no JavaScript examples in README.md"
    );
    for block in top_blocks {
        assert!(
            examples.contains(&block),
            "README.md's example is not one of the package README's:\n{}",
            block.join("\n")
        );
    }
}

/// The defaults that `index.d.ts` states (`Default X.` in each option's comment) are the
/// detector's own, so that the types cannot drift from `NmsConfig`.
#[test]
fn the_typescript_types_state_the_detectors_own_defaults() {
    let types =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pkg/index.d.ts"))
            .unwrap();
    let stated = |field: &str| -> f64 {
        let at = types
            .find(&format!("  {field}?:"))
            .unwrap_or_else(|| panic!("index.d.ts has no option {field}"));
        let comment = &types[types[..at].rfind("/**").unwrap()..at];
        let default = comment
            .split("Default ")
            .nth(1)
            .unwrap_or_else(|| panic!("{field}: no default stated in {comment}"));
        // The number, without the full stop that ends the sentence.
        let number: String = default
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number
            .trim_end_matches('.')
            .parse()
            .unwrap_or_else(|e| panic!("{field}: {e} in {comment}"))
    };
    let nms = ssdface::boxes::NmsConfig::default();
    for (field, value) in [
        ("scoreThreshold", f64::from(nms.score_threshold)),
        ("iouThreshold", f64::from(nms.iou_threshold)),
        ("topK", nms.top_k as f64),
        ("maxFaces", nms.max_detections as f64),
    ] {
        assert!(
            (stated(field) - value).abs() < 1e-6,
            "index.d.ts states {field} defaults to {}, the detector uses {value}",
            stated(field)
        );
    }
}
