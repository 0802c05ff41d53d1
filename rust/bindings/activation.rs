//! Bindings for relu, sigmoid, step and their gradients.

use numpy::prelude::*;
use numpy::PyArrayDyn;
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};

use super::convert::{
    as_slice, as_slice_mut, float_array, float_arrays, maybe_detached, new_array, out_array,
    overlaps, shape_str, PyFloat,
};
use crate::kernels::activation::{activate, activate_grad, activate_inplace, Activation};

fn unary<'py>(
    act: Activation,
    x: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let x = float_array(x, "x")?;
    if x.is_f64() {
        unary_typed::<f64>(act, f64::from_array(x)?, out)
    } else {
        unary_typed::<f32>(act, f32::from_array(x)?, out)
    }
}

fn unary_typed<'py, T: PyFloat>(
    act: Activation,
    x: Bound<'py, PyArrayDyn<T>>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    match out {
        None => unary_into(act, &x, new_array::<T>(py, x.shape())?),
        Some(out) => {
            out_array::<T>(out, x.shape())?.fill(x.shape(), |result| unary_into(act, &x, result))
        }
    }
}

fn unary_into<'py, T: PyFloat>(
    act: Activation,
    x: &Bound<'py, PyArrayDyn<T>>,
    result: Bound<'py, PyArrayDyn<T>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let len = x.len();
    if result.data() == x.data() {
        // SAFETY: `result` is C-contiguous and aligned (new, or checked by
        // out_array), and it is the only reference made to this memory.
        let data = unsafe { as_slice_mut(&result) };
        maybe_detached(py, len, || activate_inplace(act, data));
    } else {
        // SAFETY: both are C-contiguous and aligned; a partial overlap is
        // resolved by reading from a copy, so the two slices never alias
        // while the kernel runs.
        let (input, output) = unsafe { (as_slice(x), as_slice_mut(&result)) };
        if overlaps(input, output) {
            let copy = input.to_vec();
            maybe_detached(py, len, || activate(act, &copy, output));
        } else {
            maybe_detached(py, len, || activate(act, input, output));
        }
    }
    Ok(result.into_any())
}

fn gradient<'py>(
    act: Activation,
    x: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let ([x, grad], any_f64) = float_arrays([(x, "x"), (grad, "grad")])?;
    if x.shape() != grad.shape() {
        return Err(Error::value(format!(
            "grad has shape {}, but x has shape {}; they must match",
            shape_str(grad.shape()),
            shape_str(x.shape())
        )));
    }
    if any_f64 {
        gradient_typed::<f64>(act, f64::from_array(x)?, f64::from_array(grad)?, out)
    } else {
        gradient_typed::<f32>(act, f32::from_array(x)?, f32::from_array(grad)?, out)
    }
}

fn gradient_typed<'py, T: PyFloat>(
    act: Activation,
    x: Bound<'py, PyArrayDyn<T>>,
    grad: Bound<'py, PyArrayDyn<T>>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    match out {
        None => gradient_into(act, &x, &grad, new_array::<T>(py, x.shape())?),
        Some(out) => out_array::<T>(out, x.shape())?
            .fill(x.shape(), |result| gradient_into(act, &x, &grad, result)),
    }
}

fn gradient_into<'py, T: PyFloat>(
    act: Activation,
    x: &Bound<'py, PyArrayDyn<T>>,
    grad: &Bound<'py, PyArrayDyn<T>>,
    result: Bound<'py, PyArrayDyn<T>>,
) -> Result<Bound<'py, PyAny>> {
    let py = x.py();
    let len = x.len();
    // SAFETY: all three are C-contiguous and aligned; inputs that share
    // memory with the output are read from copies, so no slice the kernel
    // reads aliases the one it writes.
    let (x_in, grad_in, output) = unsafe { (as_slice(x), as_slice(grad), as_slice_mut(&result)) };
    let x_copy = overlaps(x_in, output).then(|| x_in.to_vec());
    let grad_copy = overlaps(grad_in, output).then(|| grad_in.to_vec());
    let x_in = x_copy.as_deref().unwrap_or(x_in);
    let grad_in = grad_copy.as_deref().unwrap_or(grad_in);
    maybe_detached(py, len, || activate_grad(act, x_in, grad_in, output));
    Ok(result.into_any())
}

/// Rectified linear unit, elementwise: ``max(x, 0)``.
///
/// Parameters
/// ----------
/// x : array_like
///     Pre-activations, any shape. float32 stays float32; integers, bools
///     and lists become float64.
/// out : ndarray, optional
///     Writeable C-contiguous array of x's shape and dtype to hold the
///     result; may be ``x`` itself.
///
/// Returns
/// -------
/// ndarray
///     Same shape and dtype as ``x``. NaN propagates and ``-0.0`` becomes
///     ``0.0``, bit for bit as ``np.maximum(x, 0)``.
///
/// Raises
/// ------
/// TypeError
///     If ``x`` is not real numbers (strings, objects, complex, float16).
/// ValueError
///     If ``out`` has the wrong shape or dtype or is read-only.
///
/// Examples
/// --------
/// >>> nr.relu([-1.0, 2.0])
/// array([0., 2.])
#[pyfunction(name = "relu", signature = (x, /, out = None))]
fn relu_py<'py>(
    x: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    unary(Activation::Relu, x, out)
}

/// Logistic sigmoid, elementwise: ``1 / (1 + exp(-x))``.
///
/// Computed as ``exp(x) / (1 + exp(x))`` for negative ``x``, so it never
/// overflows and keeps full relative precision for very negative inputs.
/// float32 is computed in float32, within 2 ulp of the correctly rounded
/// value (checked over every float32 input); float64 within a few ulp.
/// Either gives the same bits on every x86-64 CPU and thread count.
///
/// Parameters
/// ----------
/// x : array_like
///     Pre-activations, any shape; float32 stays float32.
/// out : ndarray, optional
///     Writeable C-contiguous array for the result; may be ``x``.
///
/// Returns
/// -------
/// ndarray
///     Values in [0, 1], same shape and dtype as ``x``.
///
/// Raises
/// ------
/// TypeError, ValueError
///     As for :func:`relu`.
///
/// Examples
/// --------
/// >>> nr.sigmoid([0.0])
/// array([0.5])
#[pyfunction(name = "sigmoid", signature = (x, /, out = None))]
fn sigmoid_py<'py>(
    x: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    unary(Activation::Sigmoid, x, out)
}

/// The perceptron's threshold, elementwise: 1 where ``x > 0``, else 0.
///
/// Parameters
/// ----------
/// x : array_like
///     Weighted sums, any shape; float32 stays float32.
/// out : ndarray, optional
///     Writeable C-contiguous array for the result; may be ``x``.
///
/// Returns
/// -------
/// ndarray
///     0.0 or 1.0 (NaN where ``x`` is NaN), same shape and dtype as ``x``.
///
/// Raises
/// ------
/// TypeError, ValueError
///     As for :func:`relu`.
///
/// Examples
/// --------
/// >>> nr.heaviside([-0.5, 0.0, 0.5])
/// array([0., 0., 1.])
#[pyfunction(signature = (x, /, out = None))]
fn heaviside<'py>(
    x: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    unary(Activation::Step, x, out)
}

/// Backpropagates through ReLU: ``grad`` where ``x > 0``, else 0.
///
/// Parameters
/// ----------
/// x : array_like
///     The pre-activations ReLU was applied to.
/// grad : array_like
///     Gradient of the loss with respect to ``relu(x)``; same shape as ``x``.
/// out : ndarray, optional
///     Writeable C-contiguous array for the result; may be ``x`` or ``grad``.
///
/// Returns
/// -------
/// ndarray
///     Gradient with respect to ``x``; float64 if either input is.
///
/// Raises
/// ------
/// ValueError
///     If the shapes differ, or ``out`` is unsuitable.
/// TypeError
///     If an input is not real numbers.
///
/// Examples
/// --------
/// >>> nr.relu_grad([-1.0, 2.0], [5.0, 5.0])
/// array([0., 5.])
#[pyfunction(name = "relu_grad", signature = (x, grad, /, out = None))]
fn relu_grad_py<'py>(
    x: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    gradient(Activation::Relu, x, grad, out)
}

/// Backpropagates through the sigmoid: ``grad * s * (1 - s)`` with
/// ``s = sigmoid(x)``.
///
/// Parameters
/// ----------
/// x : array_like
///     The pre-activations the sigmoid was applied to.
/// grad : array_like
///     Gradient of the loss with respect to ``sigmoid(x)``; same shape.
/// out : ndarray, optional
///     Writeable C-contiguous array for the result; may be ``x`` or ``grad``.
///
/// Returns
/// -------
/// ndarray
///     Gradient with respect to ``x``.
///
/// Raises
/// ------
/// ValueError, TypeError
///     As for :func:`relu_grad`.
///
/// Examples
/// --------
/// >>> nr.sigmoid_grad([0.0], [1.0])
/// array([0.25])
#[pyfunction(name = "sigmoid_grad", signature = (x, grad, /, out = None))]
fn sigmoid_grad_py<'py>(
    x: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    gradient(Activation::Sigmoid, x, grad, out)
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(relu_py, module)?)?;
    module.add_function(wrap_pyfunction!(sigmoid_py, module)?)?;
    module.add_function(wrap_pyfunction!(heaviside, module)?)?;
    module.add_function(wrap_pyfunction!(relu_grad_py, module)?)?;
    module.add_function(wrap_pyfunction!(sigmoid_grad_py, module)?)?;
    Ok(())
}
