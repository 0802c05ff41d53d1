//! The kernels' errors as Python exceptions: one conversion, each message the error's `Display`.

use pyo3::exceptions::{PyFloatingPointError, PyMemoryError};
use pyo3::PyErr;

use crate::kernels::alloc::AllocError;
use crate::kernels::mlp::FitError;
use crate::kernels::Element;

impl From<AllocError> for PyErr {
    /// `MemoryError`: the only buffers the bindings allocate this way are
    /// the network's (its workspace and loss history).
    fn from(error: AllocError) -> PyErr {
        PyMemoryError::new_err(format!("{error} for the network's workspace"))
    }
}

impl<T: Element> From<FitError<T>> for PyErr {
    fn from(error: FitError<T>) -> PyErr {
        match error {
            FitError::NonFiniteLoss { .. } => PyFloatingPointError::new_err(error.to_string()),
        }
    }
}
