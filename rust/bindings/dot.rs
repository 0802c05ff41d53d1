//! Binding for the weighted sum (vector·vector and matrix·vector).

use numpy::prelude::*;
use numpy::PyArrayDyn;
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};

use super::convert::{
    as_slice, as_slice_mut, float_arrays, maybe_detached, new_array, scalar, shape_str, PyFloat,
};
use crate::kernels::dot::{weighted_sum, weighted_sum_rows};

fn weighted_sum_typed<'py, T: PyFloat>(
    inputs: Bound<'py, PyArrayDyn<T>>,
    weights: Bound<'py, PyArrayDyn<T>>,
) -> Result<Bound<'py, PyAny>> {
    let py = inputs.py();
    let (in_shape, w_shape) = (inputs.shape(), weights.shape());
    if w_shape.len() != 1 {
        return Err(Error::value(format!(
            "weights must be 1-D (one weight per input), but has shape {}",
            shape_str(w_shape)
        )));
    }
    // SAFETY: both arrays are aligned and C-contiguous (FloatArray), and
    // are only read.
    let (x, w) = unsafe { (as_slice(&inputs), as_slice(&weights)) };
    match *in_shape {
        [n] => {
            if n != w_shape[0] {
                return Err(Error::value(format!(
                    "weights has shape {}, but inputs has shape {}; they must have the same length",
                    shape_str(w_shape),
                    shape_str(in_shape)
                )));
            }
            let sum = maybe_detached(py, n, || weighted_sum(x, w));
            scalar(py, sum)
        }
        [rows, cols] => {
            if cols != w_shape[0] {
                return Err(Error::value(format!(
                    "weights has shape {}, but inputs has {cols} columns",
                    shape_str(w_shape)
                )));
            }
            let result = new_array::<T>(py, &[rows])?;
            // SAFETY: freshly allocated, C-contiguous, referenced only here.
            let out = unsafe { as_slice_mut(&result) };
            maybe_detached(py, x.len(), || weighted_sum_rows(x, w, out));
            Ok(result.into_any())
        }
        _ => Err(Error::value(format!(
            "inputs must be 1-D (one sample) or 2-D (one sample per row), but has shape {}",
            shape_str(in_shape)
        ))),
    }
}

/// The weighted sum of a neuron's inputs: ``Σ inputs[i] * weights[i]``.
///
/// With 2-D ``inputs`` each row is one sample and the result holds one
/// weighted sum per row (``inputs @ weights``).
///
/// Parameters
/// ----------
/// inputs : array_like, shape (k,) or (n, k)
///     One sample, or one sample per row.
/// weights : array_like, shape (k,)
///     One weight per input.
///
/// Returns
/// -------
/// numpy.float64 or numpy.float32, or ndarray of shape (n,)
///     float32 only when both arguments are float32; integers, bools and
///     lists become float64. Empty vectors sum to 0.0. The summation order
///     is fixed, so the result does not depend on the thread count.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not match or ``inputs`` is not 1-D or 2-D.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> nr.weighted_sum([2, 3, 4], [1, -1, 5])
/// np.float64(19.0)
#[pyfunction(name = "weighted_sum", signature = (inputs, weights, /))]
fn weighted_sum_py<'py>(
    inputs: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyAny>> {
    let ([inputs, weights], any_f64) = float_arrays([(inputs, "inputs"), (weights, "weights")])?;
    if any_f64 {
        weighted_sum_typed::<f64>(f64::from_array(inputs)?, f64::from_array(weights)?)
    } else {
        weighted_sum_typed::<f32>(f32::from_array(inputs)?, f32::from_array(weights)?)
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(weighted_sum_py, module)?)
}
