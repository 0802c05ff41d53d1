//! PyO3 glue: numpy in and out, dtype dispatch, shape checks, error mapping.
//!
//! Bindings validate and convert, then call `crate::kernels`; they never
//! compute. Each submodule registers its own functions.

mod activation;
mod blas;
mod convert;
mod dot;
mod error;
mod info;
mod linear;
mod mlp;
mod network;
mod random;

use pyo3::prelude::*;

/// The compiled module `neurust._core`.
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    convert::register(module)?;
    dot::register(module)?;
    activation::register(module)?;
    linear::register(module)?;
    mlp::register(module)?;
    network::register(module)?;
    info::register(module)?;
    blas::register(module)?;
    random::register(module)?;
    Ok(())
}
