//! The demo page in headless Chromium (Debian's, driven by playwright-core from
//! `tests/browser/`): the photo path against the native CLI, WebGPU against the CPU fallback,
//! the fake camera, a denied camera. Needs `/usr/bin/chromium` and `npm install` in
//! `tests/browser` (`.ci/run` does both).

mod common;

/// The page runs the bundled model, like the command line without `--weights`.
#[test]
fn the_page_detects_like_the_native_cli_on_cpu_and_webgpu() {
    let root = common::repo_root();
    common::require_browser_tools();
    let dir = common::scratch("browser");
    common::build_web();

    let photo = common::val_image("maksssksksss10.jpg");
    let native_json = dir.join("native.json");
    common::write_native_faces(&photo, &[], &native_json);
    // The page's `?inputSize=` against the CLI's `--input-size`.
    let native_480_json = dir.join("native-480x360.json");
    common::write_native_faces(
        &photo,
        &["--input-size".as_ref(), "480x360".as_ref()],
        &native_480_json,
    );

    common::run_node_checks(
        "run.mjs",
        &[
            ("SSDFACE_WWW", &root.join("www")),
            ("SSDFACE_PHOTO", &photo),
            ("SSDFACE_NATIVE_JSON", &native_json),
            ("SSDFACE_NATIVE_480X360_JSON", &native_480_json),
            ("SSDFACE_ARTIFACTS", &dir),
        ],
    );
    println!("screenshots in {}", dir.display());
}
