//! Every binding error as one enum, turned into a Python exception in one place.
//!
//! A binding builds an [`Error`] naming what is wrong; `From<Error> for PyErr`
//! picks the exception class. Errors that Python code raised on the way
//! (numpy's conversions, a callback) pass through unchanged as
//! [`Error::Python`].

use std::fmt;

use pyo3::exceptions::{PyMemoryError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

use crate::kernels::alloc::AllocError;

/// What went wrong in a binding, by the exception the caller gets.
#[derive(Debug)]
pub enum Error {
    /// A value of the right kind that is out of range, or a shape that does
    /// not fit: `ValueError`.
    Value(String),
    /// An argument of the wrong kind (type or dtype): `TypeError`.
    Type(String),
    /// What the call needs is in use by another thread, or the binding's
    /// own invariant failed: `RuntimeError`.
    Runtime(String),
    /// The network's buffers could not be allocated: `MemoryError`.
    Memory(AllocError),
    /// A shared library could not be loaded: `OSError`.
    Os(String),
    /// Raised by Python code the binding called; passed on as it is.
    Python(PyErr),
}

/// The bindings' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn value(message: impl Into<String>) -> Self {
        Error::Value(message.into())
    }

    pub fn type_(message: impl Into<String>) -> Self {
        Error::Type(message.into())
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Error::Runtime(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value(message)
            | Error::Type(message)
            | Error::Runtime(message)
            | Error::Os(message) => f.write_str(message),
            Error::Memory(error) => write!(f, "{error} for the network's workspace"),
            Error::Python(error) => write!(f, "{error}"),
        }
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        match error {
            Error::Value(_) => PyValueError::new_err(message),
            Error::Type(_) => PyTypeError::new_err(message),
            Error::Runtime(_) => PyRuntimeError::new_err(message),
            Error::Memory(_) => PyMemoryError::new_err(message),
            Error::Os(_) => PyOSError::new_err(message),
            Error::Python(error) => error,
        }
    }
}

impl From<PyErr> for Error {
    fn from(error: PyErr) -> Error {
        Error::Python(error)
    }
}

impl From<AllocError> for Error {
    /// The only buffers the bindings allocate this way are the network's
    /// (its workspace and loss history).
    fn from(error: AllocError) -> Error {
        Error::Memory(error)
    }
}

impl<'a, 'py> From<pyo3::CastError<'a, 'py>> for Error {
    fn from(error: pyo3::CastError<'a, 'py>) -> Error {
        Error::Python(error.into())
    }
}

impl<'py> From<pyo3::CastIntoError<'py>> for Error {
    fn from(error: pyo3::CastIntoError<'py>) -> Error {
        Error::Python(error.into())
    }
}
