//! The model a build ships with: used when no weights are given.
//!
//! No trained model is bundled yet, so every entry point asks for weights explicitly.

/// The bundled weights, if this build has any.
pub const DEFAULT_WEIGHTS: Option<&[u8]> = None;
