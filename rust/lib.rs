//! neurust: neural-network kernels in pure Rust, with optional Python bindings.
//!
//! `kernels` holds the maths and knows nothing of Python; `bindings` (compiled
//! only with the `python` feature, which maturin turns on) converts numpy
//! arrays, validates arguments, releases the GIL and maps errors.

pub mod kernels;

#[cfg(feature = "python")]
mod bindings;
