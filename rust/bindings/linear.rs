//! Binding for the dense layer `x @ weights + bias`.

use numpy::prelude::*;
use numpy::PyArrayDyn;
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};

use super::convert::{
    as_slice, as_slice_mut, float_arrays_vec, maybe_detached, new_array, shape_str, FloatArray,
    PyFloat,
};
use crate::kernels::linear;

/// Products of at least this many multiply-adds are cut into slices of the
/// inner dimension so that Ctrl-C is honoured between slices (their time on
/// one core: `neurust compare --workloads linear --sizes 1k --threads 1`;
/// figures in docs/performance.md).
const INTERRUPTIBLE_WORK: usize = 1 << 31;

/// The multiply-adds in one uninterrupted slice: short enough for Ctrl-C
/// (docs/performance.md).
const BLOCK_WORK: usize = 1 << 30;

/// Inner-dimension slices are multiples of this (the GEMM's depth block).
const SLICE_MIN: usize = 256;

fn linear_typed<'py, T: PyFloat>(
    x: Bound<'py, PyArrayDyn<T>>,
    weights: Bound<'py, PyArrayDyn<T>>,
    bias: Option<Bound<'py, PyArrayDyn<T>>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let (x_shape, w_shape) = (x.shape(), weights.shape());
    let (rows, inner, vector) = match *x_shape {
        [inner] => (1, inner, true),
        [rows, inner] => (rows, inner, false),
        _ => {
            return Err(Error::value(format!(
                "x must be 1-D (one sample) or 2-D (one sample per row), but has shape {}",
                shape_str(x_shape)
            )))
        }
    };
    let [w_rows, cols] = *w_shape else {
        return Err(Error::value(format!(
            "weights must be 2-D (inputs × outputs), but has shape {}",
            shape_str(w_shape)
        )));
    };
    if w_rows != inner {
        return Err(Error::value(format!(
            "weights has shape {}, but x has {inner} columns; weights needs {inner} rows",
            shape_str(w_shape)
        )));
    }
    if let Some(bias) = &bias {
        if bias.shape() != [cols] {
            return Err(Error::value(format!(
                "bias has shape {}, but weights has {cols} columns; bias needs shape ({cols},)",
                shape_str(bias.shape())
            )));
        }
    }
    let result = if vector {
        new_array::<T>(py, &[cols])?
    } else {
        new_array::<T>(py, &[rows, cols])?
    };
    // SAFETY: inputs are aligned and C-contiguous and only read; the
    // result is fresh, so it aliases none of them.
    let (x_data, w_data, out) =
        unsafe { (as_slice(&x), as_slice(&weights), as_slice_mut(&result)) };
    let bias_data = bias.as_ref().map(|b| unsafe { as_slice(b) });
    let work = rows.saturating_mul(inner).saturating_mul(cols);
    if work < INTERRUPTIBLE_WORK {
        maybe_detached(py, work, || {
            linear::linear(x_data, w_data, bias_data, rows, inner, cols, out)
        });
        return Ok(result.into_any());
    }
    // Long products run as a sum over slices of the inner dimension,
    // re-attaching between slices to let Ctrl-C through. Slices are whole
    // multiples of the GEMM's own depth blocking, so this adds one pass over
    // the output per slice and no repacking.
    let slice = (BLOCK_WORK / rows.saturating_mul(cols).max(1))
        .max(SLICE_MIN)
        .next_multiple_of(SLICE_MIN);
    for start in (0..inner).step_by(slice) {
        let end = (start + slice).min(inner);
        py.detach(|| {
            linear::matmul_inner_slice(x_data, w_data, rows, inner, cols, start, end, out)
        });
        py.check_signals()?;
    }
    if let Some(bias) = bias_data {
        linear::add_row_vector(out, bias);
    }
    Ok(result.into_any())
}

fn typed<'py, T: PyFloat>(
    x: FloatArray<'py>,
    weights: FloatArray<'py>,
    bias: Option<FloatArray<'py>>,
) -> Result<Bound<'py, PyAny>> {
    let bias = bias.map(T::from_array).transpose()?;
    linear_typed::<T>(T::from_array(x)?, T::from_array(weights)?, bias)
}

/// A dense layer: ``x @ weights + bias``.
///
/// Parameters
/// ----------
/// x : array_like, shape (n, k) or (k,)
///     One sample per row, or a single sample.
/// weights : array_like, shape (k, m)
///     One column of weights per output neuron.
/// bias : array_like, shape (m,), optional
///     Added to every row of the product.
///
/// Returns
/// -------
/// ndarray, shape (n, m) or (m,)
///     float32 only when every argument is float32. Large products run on
///     OpenBLAS when the scipy-openblas64 package is installed, the others
///     on faer (both choose SIMD kernels at run time and use threads above a
///     size cut-off); the result does not depend on the thread count.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> nr.linear([[1.0, 2.0]], [[1.0], [1.0]], [0.5])
/// array([[3.5]])
#[pyfunction(name = "linear", signature = (x, weights, bias = None, /))]
fn linear_py<'py>(
    x: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
    bias: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let bias = bias.filter(|bias| !bias.is_none());
    let mut args = vec![(x, "x"), (weights, "weights")];
    args.extend(bias.map(|bias| (bias, "bias")));
    let (arrays, any_f64) = float_arrays_vec(&args)?;
    let mut arrays = arrays.into_iter();
    let (Some(x), Some(weights)) = (arrays.next(), arrays.next()) else {
        unreachable!("x and weights were converted")
    };
    let bias = arrays.next();
    if any_f64 {
        typed::<f64>(x, weights, bias)
    } else {
        typed::<f32>(x, weights, bias)
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(linear_py, module)?)
}
