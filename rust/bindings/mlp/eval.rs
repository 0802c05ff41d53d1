//! Evaluating the network from Python: forward, loss, gradients and a training step through one typed helper, and `mlp_step`.

use numpy::prelude::*;
use numpy::PyArrayDyn;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::args::{parse_activation, parse_reduction, Arrays, Raw};
use super::state::{Kept, KeptWorkspace, NetState};
use crate::bindings::convert::{
    as_slice, as_slice_mut, float_arrays, maybe_detached, new_array, out_array, overlaps, scalar,
    shape_str, PyFloat,
};
use crate::bindings::error::{Error, Result};
use crate::kernels::activation::Activation;
use crate::kernels::mlp::{self, GradientsMut, Reduction, TwoLayer};

/// What to compute from the network and the data.
#[derive(Clone, Copy)]
pub enum Evaluation {
    Forward,
    Loss(Reduction),
    Gradients(Reduction),
    /// The gradients, then a step of gradient descent at this learning rate.
    TrainStep(Reduction, f64),
}

/// The multiply-adds of one pass, which decide whether to release the GIL.
pub fn work(net: &TwoLayer, rows: usize) -> usize {
    rows.saturating_mul(net.input_dim)
        .saturating_mul(net.hidden_dim)
}

/// Converts `raw` to the dtype of `w1` and computes `what` in it, with the
/// workspace `state` keeps (a fresh one without it).
pub fn evaluate<'py>(
    raw: Raw<'py>,
    state: Option<&NetState>,
    activation: Activation,
    what: Evaluation,
) -> Result<Bound<'py, PyAny>> {
    if raw.w1.is_f64() {
        evaluate_typed::<f64>(raw.typed()?, state, activation, what)
    } else {
        evaluate_typed::<f32>(raw.typed()?, state, activation, what)
    }
}

fn evaluate_typed<'py, T: Kept>(
    arrays: Arrays<'py, T>,
    state: Option<&NetState>,
    activation: Activation,
    what: Evaluation,
) -> Result<Bound<'py, PyAny>> {
    let py = arrays.x.py();
    let (net, rows) = arrays.net(activation)?;
    if let Some(state) = state {
        state.check(&net)?;
    }
    let y = match (what, arrays.y.as_ref()) {
        (Evaluation::Forward, _) => &[][..],
        // SAFETY: see `Arrays::params`; `y` is likewise only read.
        (_, Some(y)) => unsafe { as_slice(y) },
        (_, None) => return Err(Error::value("y is required")),
    };
    let mut workspace = KeptWorkspace::<T>::take(state, net, rows)?;
    // SAFETY: see `Arrays::params`; `x` is likewise only read.
    let (params, x) = unsafe { (arrays.params(), as_slice(&arrays.x)) };
    let work = work(&net, rows);
    match what {
        Evaluation::Forward => {
            maybe_detached(py, work, || {
                mlp::forward(&net, &params, x, rows, &mut workspace);
            });
            let predictions = new_array::<T>(py, &[rows, net.output_dim])?;
            // SAFETY: the array is fresh, C-contiguous and shaped like the
            // predictions, and every element is written here.
            unsafe { as_slice_mut(&predictions) }.copy_from_slice(workspace.predictions(rows));
            Ok(predictions.into_any())
        }
        Evaluation::Loss(reduction) => {
            let loss = maybe_detached(py, work, || {
                mlp::loss(&net, &params, x, y, rows, reduction, &mut workspace)
            });
            scalar(py, loss)
        }
        Evaluation::Gradients(reduction) => {
            let grads = GradientArrays::new(py, &net)?;
            // SAFETY: the gradient arrays are fresh (aliasing nothing),
            // C-contiguous, shaped like the parameters, and written in full
            // by the backward pass.
            let mut out = unsafe { grads.as_mut() };
            let loss = maybe_detached(py, work, || {
                let ws = &mut workspace;
                mlp::gradients_into(&net, &params, x, y, rows, reduction, ws, &mut out)
            });
            grads.into_tuple(scalar(py, loss)?)
        }
        Evaluation::TrainStep(reduction, lr) => {
            let stepped = GradientArrays::new(py, &net)?;
            // SAFETY: as for the gradients: fresh arrays, shaped
            // like the parameters, each written in full by `step_into`.
            let out = unsafe { stepped.as_mut() };
            let loss = maybe_detached(py, work, || {
                let ws = &mut workspace;
                let loss = mlp::gradients(&net, &params, x, y, rows, reduction, ws);
                mlp::step_params_into(out, &params, workspace.gradients(), T::from_f64(lr));
                loss
            });
            stepped.into_tuple(scalar(py, loss)?)
        }
    }
}

/// Fresh arrays shaped like the parameters, for the gradients.
struct GradientArrays<'py, T: PyFloat> {
    w1: Bound<'py, PyArrayDyn<T>>,
    b1: Option<Bound<'py, PyArrayDyn<T>>>,
    w2: Bound<'py, PyArrayDyn<T>>,
    b2: Option<Bound<'py, PyArrayDyn<T>>>,
}

impl<'py, T: PyFloat> GradientArrays<'py, T> {
    fn new(py: Python<'py>, net: &TwoLayer) -> Result<Self> {
        let bias = |len: usize| net.bias.then(|| new_array::<T>(py, &[len])).transpose();
        Ok(GradientArrays {
            w1: new_array::<T>(py, &[net.input_dim, net.hidden_dim])?,
            w2: new_array::<T>(py, &[net.hidden_dim, net.output_dim])?,
            b1: bias(net.hidden_dim)?,
            b2: bias(net.output_dim)?,
        })
    }

    /// # Safety
    /// No other reference to the arrays' memory may be live.
    unsafe fn as_mut(&self) -> GradientsMut<'_, T> {
        GradientsMut {
            w1: as_slice_mut(&self.w1),
            b1: self.b1.as_ref().map(|b| as_slice_mut(b)),
            w2: as_slice_mut(&self.w2),
            b2: self.b2.as_ref().map(|b| as_slice_mut(b)),
        }
    }

    /// `(loss, dw1, db1, dw2, db2)`, with None for absent biases.
    fn into_tuple(self, loss: Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
        let py = loss.py();
        let none = || py.None().into_bound(py);
        let items = [
            loss,
            self.w1.into_any(),
            self.b1.map_or_else(none, Bound::into_any),
            self.w2.into_any(),
            self.b2.map_or_else(none, Bound::into_any),
        ];
        Ok(PyTuple::new(py, items)?.into_any())
    }
}

/// The two-layer network's predictions: ``act(x @ w1 + b1) @ w2 + b2``.
///
/// Parameters
/// ----------
/// x : array_like, shape (n, input_dim)
///     One sample per row; converted to the dtype of ``w1``.
/// w1 : array_like, shape (input_dim, hidden_dim)
/// b1 : array_like, shape (hidden_dim,), or None
/// w2 : array_like, shape (hidden_dim, output_dim)
/// b2 : array_like, shape (output_dim,), or None
///     The biases are both given or both None.
/// activation : {"relu", "sigmoid"}
///
/// Returns
/// -------
/// ndarray, shape (n, output_dim)
///     In the dtype of ``w1`` (float32 or float64).
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or ``activation`` is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_forward([[2.0, 3.0, 4.0]], [[1.0], [-1.0], [5.0]], None, [[1.0]], None, "relu")
/// array([[19.]])
#[pyfunction(name = "mlp_forward", signature = (x, w1, b1, w2, b2, activation, /))]
fn mlp_forward_py<'py>(
    x: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
) -> Result<Bound<'py, PyAny>> {
    let activation = parse_activation(activation)?;
    let raw = Raw::new(x, None, w1, b1, w2, b2)?;
    evaluate(raw, None, activation, Evaluation::Forward)
}

/// The two-layer network's loss: ``Σ (P - y)²`` for ``reduction="sum"``,
/// divided by ``y.size`` for ``"mean"``, where ``P = mlp_forward(x, ...)``.
///
/// Parameters
/// ----------
/// x : array_like, shape (n, input_dim)
/// y : array_like, shape (n, output_dim)
/// w1, b1, w2, b2, activation
///     As for :func:`mlp_forward`.
/// reduction : {"sum", "mean"}
///
/// Returns
/// -------
/// numpy.float64 or numpy.float32
///     In the dtype of ``w1``.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or a name is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_loss([[1.0]], [[3.0]], [[1.0]], None, [[1.0]], None, "relu", "sum")
/// np.float64(4.0)
#[pyfunction(
    name = "mlp_loss",
    signature = (x, y, w1, b1, w2, b2, activation, reduction = "sum", /)
)]
#[allow(clippy::too_many_arguments)]
fn mlp_loss_py<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
    reduction: &str,
) -> Result<Bound<'py, PyAny>> {
    let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
    let activation = parse_activation(activation)?;
    let reduction = parse_reduction(reduction)?;
    evaluate(raw, None, activation, Evaluation::Loss(reduction))
}

/// The loss and its gradients with respect to every parameter (backprop).
///
/// With ``D = dL/dP`` (``2 (P - y)``, over ``y.size`` for the mean):
/// ``dw2 = A.T @ D``, ``db2 = D.sum(0)``, ``dH = act'(H) * (D @ w2.T)``,
/// ``dw1 = x.T @ dH``, ``db1 = dH.sum(0)``, where ``H = x @ w1 + b1`` and
/// ``A = act(H)``.
///
/// Parameters
/// ----------
/// x, y, w1, b1, w2, b2, activation, reduction
///     As for :func:`mlp_loss`.
///
/// Returns
/// -------
/// tuple
///     ``(loss, dw1, db1, dw2, db2)``: gradients shaped like the parameters,
///     in the dtype of ``w1``; ``db1`` and ``db2`` are None without biases.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or a name is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_gradients([[1.0]], [[3.0]], [[1.0]], None, [[1.0]], None, "relu", "sum")[1]
/// array([[-4.]])
#[pyfunction(
    name = "mlp_gradients",
    signature = (x, y, w1, b1, w2, b2, activation, reduction = "sum", /)
)]
#[allow(clippy::too_many_arguments)]
fn mlp_gradients_py<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
    reduction: &str,
) -> Result<Bound<'py, PyAny>> {
    let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
    let activation = parse_activation(activation)?;
    let reduction = parse_reduction(reduction)?;
    evaluate(raw, None, activation, Evaluation::Gradients(reduction))
}

/// One step of gradient descent on the whole network, in one call: the loss
/// before the step and the new parameters, with the bits of
/// :func:`mlp_gradients` followed by :func:`mlp_step` on each parameter.
///
/// Parameters
/// ----------
/// x, y, w1, b1, w2, b2, activation, reduction
///     As for :func:`mlp_loss`.
/// lr : float
///     The learning rate, rounded to the dtype of ``w1``.
///
/// Returns
/// -------
/// tuple
///     ``(loss, w1, b1, w2, b2)``: new arrays (the parameters given are left
///     alone) in the dtype of ``w1``; ``b1`` and ``b2`` are None without biases.
///
/// Raises
/// ------
/// ValueError
///     If the shapes do not chain or a name is unknown.
/// TypeError
///     If an argument is not real numbers.
///
/// Examples
/// --------
/// >>> _core.mlp_train_step([[1.0]], [[3.0]], [[1.0]], None, [[1.0]], None, "relu", "sum", 0.25)[1]
/// array([[2.]])
#[pyfunction(
    name = "mlp_train_step",
    signature = (x, y, w1, b1, w2, b2, activation, reduction, lr, /)
)]
#[allow(clippy::too_many_arguments)]
fn mlp_train_step_py<'py>(
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w1: &Bound<'py, PyAny>,
    b1: Option<&Bound<'py, PyAny>>,
    w2: &Bound<'py, PyAny>,
    b2: Option<&Bound<'py, PyAny>>,
    activation: &str,
    reduction: &str,
    lr: f64,
) -> Result<Bound<'py, PyAny>> {
    let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
    let activation = parse_activation(activation)?;
    let reduction = parse_reduction(reduction)?;
    evaluate(raw, None, activation, Evaluation::TrainStep(reduction, lr))
}

/// One parameter after a step of gradient descent: ``value - lr * grad``.
///
/// The result has the bits of numpy's ``value - lr * grad``: ``lr`` is
/// rounded to the result's dtype and the product rounded before the
/// subtraction.
///
/// Parameters
/// ----------
/// value, grad : array_like
///     Of one shape; the result is float64 if either is, else float32.
/// lr : float
/// out : ndarray, optional
///     Writeable array of value's shape to hold the result (cast into it by
///     numpy's ``same_kind`` rule); may be ``value`` itself, for an update in
///     place. Without it the result is a new array and ``value`` and
///     ``grad`` are left alone.
///
/// Returns
/// -------
/// ndarray
///     Shaped like ``value`` (``out`` when given).
///
/// Raises
/// ------
/// ValueError
///     If the shapes differ, or ``out`` cannot hold the result (its shape,
///     or a dtype ``same_kind`` casting does not reach).
/// TypeError
///     If an argument is not real numbers, or ``out`` is not an ndarray.
///
/// Examples
/// --------
/// >>> _core.mlp_step([1.0, 2.0], [10.0, -10.0], 0.5)
/// array([-4.,  7.])
#[pyfunction(name = "mlp_step", signature = (value, grad, lr, /, out = None))]
fn mlp_step_py<'py>(
    value: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    lr: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    let ([value, grad], any_f64) = float_arrays([(value, "value"), (grad, "grad")])?;
    if any_f64 {
        step_typed(f64::from_array(value)?, f64::from_array(grad)?, lr, out)
    } else {
        step_typed(f32::from_array(value)?, f32::from_array(grad)?, lr, out)
    }
}

fn step_typed<'py, T: PyFloat>(
    value: Bound<'py, PyArrayDyn<T>>,
    grad: Bound<'py, PyArrayDyn<T>>,
    lr: f64,
    out: Option<&Bound<'py, PyAny>>,
) -> Result<Bound<'py, PyAny>> {
    if value.shape() != grad.shape() {
        return Err(Error::value(format!(
            "grad has shape {}, but value has shape {}",
            shape_str(grad.shape()),
            shape_str(value.shape())
        )));
    }
    let lr = T::from_f64(lr);
    match out {
        // A fresh array aliases neither input.
        None => step_into_array(
            &value,
            &grad,
            lr,
            new_array::<T>(value.py(), value.shape())?,
        ),
        Some(out) => out_array::<T>(out, value.shape())?.fill(value.shape(), |result| {
            step_into_array(&value, &grad, lr, result)
        }),
    }
}

fn step_into_array<'py, T: PyFloat>(
    value: &Bound<'py, PyArrayDyn<T>>,
    grad: &Bound<'py, PyArrayDyn<T>>,
    lr: T,
    result: Bound<'py, PyArrayDyn<T>>,
) -> Result<Bound<'py, PyAny>> {
    // SAFETY: all three are aligned and C-contiguous (`float_arrays`, a
    // fresh array, or checked by `out_array`); an input that shares
    // memory with the result is read from a copy unless it is the result
    // itself (`value`, updated in place), so no slice the kernel reads
    // aliases the one it writes.
    let grad_in = unsafe { as_slice(grad) };
    let output = unsafe { as_slice_mut(&result) };
    let grad_copy = overlaps(grad_in, output).then(|| grad_in.to_vec());
    let grad_in = grad_copy.as_deref().unwrap_or(grad_in);
    if result.data() == value.data() {
        mlp::step_in_place(output, grad_in, lr);
    } else {
        let value_in = unsafe { as_slice(value) };
        let value_copy = overlaps(value_in, output).then(|| value_in.to_vec());
        mlp::step_into(
            output,
            value_copy.as_deref().unwrap_or(value_in),
            grad_in,
            lr,
        );
    }
    Ok(result.into_any())
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(mlp_forward_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_loss_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_step_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_train_step_py, module)?)?;
    module.add_function(wrap_pyfunction!(mlp_gradients_py, module)?)
}
