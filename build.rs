//! With the `libtorch` feature, the binaries, tests and benchmarks find libtorch's shared
//! libraries where the build found them (an rpath), so they run without `LD_LIBRARY_PATH`.

fn main() {
    // torch-sys (`links = "tch"`) reports the folder it linked against.
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB")
        && std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows")
    {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
