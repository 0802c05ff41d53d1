//! Bindings for the two-layer network: forward, loss, gradients and the fused training loop.
//!
//! The parameters' dtype decides the arithmetic: `x` and `y` are converted to
//! the dtype of `w1`, so a float32 model trains in float32 end to end.
//! `_core.TwoLayer` is one net's native state (its shape and kept
//! workspace); the free functions take a fresh workspace per call.
//! `mlp_fit` updates the parameter arrays in place with the GIL released and
//! re-attaches between chunks of steps (every 25 ms at the latest) to run
//! Python's signal handlers, so Ctrl-C raises `KeyboardInterrupt` promptly,
//! and to call an optional progress callback.

mod args;
mod eval;
mod fit;
mod state;

use pyo3::prelude::*;

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    eval::register(module)?;
    state::register(module)?;
    fit::register(module)
}
