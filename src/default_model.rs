//! The model a build ships with: used when no weights are given.
//!
//! `models/default-320.ssdface` is compiled in, so the command line, the WebAssembly module and
//! the npm package detect faces with no file to fetch (the README says how it was trained).

/// The bundled weights.
pub const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../models/default-320.ssdface");
