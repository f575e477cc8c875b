//! The library builds for the browser: `wasm32-unknown-unknown`, without the native-only
//! command-line dependencies.

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

#[test]
fn the_library_compiles_to_wasm32() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--release",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--no-default-features",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the wasm32 build failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target_dir().join("wasm32-unknown-unknown/release/ssdface.wasm");
    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    assert_eq!(
        &bytes[..4],
        b"\0asm",
        "{} is not a WebAssembly module",
        wasm.display()
    );
}
