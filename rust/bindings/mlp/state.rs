//! `_core.TwoLayer`: a net's native state (its shape and a kept workspace per dtype), one object per net.

use std::sync::Mutex;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::args::{count, describe_shapes, optional, parse_activation, parse_reduction, Raw};
use super::eval::{evaluate, Evaluation};
use super::fit::{fit, FitCall};
use crate::bindings::convert::{float_array, FloatArray, PyFloat};
use crate::bindings::error::{Error, Result};
use crate::kernels::activation::Activation;
use crate::kernels::mlp::{TwoLayer, Workspace};

/// The largest workspace a net keeps between calls, in bytes: room for the
/// tutorial's network at 1024 rows, as `benches/distributed.py` trains it
/// (its size in docs/performance.md); a larger one (a prediction over a huge
/// batch) is freed after its call.
const KEPT_MAX_BYTES: usize = 32 << 20;

/// A two-layer network's native state: its shape, activation and the
/// buffers it keeps between calls (one object per net; nothing is shared
/// between nets). The parameters stay the caller's arrays, passed to each
/// call and checked against the shape.
///
/// Parameters
/// ----------
/// input_dim, hidden_dim, output_dim : int
///     At least 1.
/// activation : {"relu", "sigmoid"}
/// bias : bool
///     Whether the layers add biases ``b1`` and ``b2``.
///
/// Examples
/// --------
/// >>> core = _core.TwoLayer(3, 1, 1, "relu", False)
/// >>> core.forward([[2.0, 3.0, 4.0]], [[1.0], [-1.0], [5.0]], None, [[1.0]], None)
/// array([[19.]])
//
// Per dtype it keeps the workspace of the net's last evaluation for the
// next: a training loop calls `gradients` with the same net and batch every
// step, and fresh buffers are fresh pages to fault in every call. Each net
// holds its own, so two threads training two nets share nothing; two threads
// using one object at once do not wait for each other either: the second
// finds the workspace taken and makes its own for the call.
#[pyclass(name = "TwoLayer", module = "neurust._core", frozen)]
pub struct NetState {
    pub net: TwoLayer,
    kept_f64: Mutex<Option<Workspace<f64>>>,
    kept_f32: Mutex<Option<Workspace<f32>>>,
}

impl NetState {
    fn new_for(net: TwoLayer) -> Self {
        NetState {
            net,
            kept_f64: Mutex::new(None),
            kept_f32: Mutex::new(None),
        }
    }

    /// The net the parameters describe, which must be this one.
    pub fn check(&self, net: &TwoLayer) -> Result<()> {
        if *net == self.net {
            return Ok(());
        }
        Err(Error::value(format!(
            "the parameters are those of a {}, but this TwoLayer is a {}",
            describe_net(net),
            describe_net(&self.net)
        )))
    }
}

fn describe_net(net: &TwoLayer) -> String {
    format!(
        "{}x{}x{} net {} biases",
        net.input_dim,
        net.hidden_dim,
        net.output_dim,
        if net.bias { "with" } else { "without" }
    )
}

/// The dtypes a net keeps a workspace for.
pub trait Kept: PyFloat + Sized {
    fn slot(state: &NetState) -> &Mutex<Option<Workspace<Self>>>;
}

impl Kept for f64 {
    fn slot(state: &NetState) -> &Mutex<Option<Workspace<f64>>> {
        &state.kept_f64
    }
}

impl Kept for f32 {
    fn slot(state: &NetState) -> &Mutex<Option<Workspace<f32>>> {
        &state.kept_f32
    }
}

/// A workspace taken from a net's slot (or new, when there is no net, or
/// its kept one is too small or in use), put back on drop. Every buffer is
/// written by a pass before it is read, so what an earlier call left in it
/// does not matter.
pub struct KeptWorkspace<'a, T: Kept> {
    slot: Option<&'a Mutex<Option<Workspace<T>>>>,
    workspace: Option<Workspace<T>>,
}

impl<'a, T: Kept> KeptWorkspace<'a, T> {
    pub fn take(state: Option<&'a NetState>, net: TwoLayer, rows: usize) -> Result<Self> {
        let slot = state.map(T::slot);
        // The lock is held only to take the workspace out, never while a pass runs.
        let kept = slot.and_then(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take());
        let workspace = match kept {
            Some(workspace) if workspace.fits(&net, rows) => workspace,
            _ => Workspace::new(net, rows)?,
        };
        Ok(KeptWorkspace {
            slot,
            workspace: Some(workspace),
        })
    }
}

impl<T: Kept> std::ops::Deref for KeptWorkspace<'_, T> {
    type Target = Workspace<T>;
    fn deref(&self) -> &Workspace<T> {
        self.workspace.as_ref().expect("present until dropped")
    }
}

impl<T: Kept> std::ops::DerefMut for KeptWorkspace<'_, T> {
    fn deref_mut(&mut self) -> &mut Workspace<T> {
        self.workspace.as_mut().expect("present until dropped")
    }
}

impl<T: Kept> Drop for KeptWorkspace<'_, T> {
    fn drop(&mut self) {
        let (Some(slot), Some(workspace)) = (self.slot, self.workspace.take()) else {
            return;
        };
        if workspace.bytes() <= KEPT_MAX_BYTES {
            // One another thread put back meanwhile is freed after the lock.
            let replaced = slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(workspace);
            drop(replaced);
        }
    }
}

#[pymethods]
impl NetState {
    #[new]
    #[pyo3(signature = (input_dim, hidden_dim, output_dim, activation, bias, /))]
    fn py_new(
        input_dim: &Bound<'_, PyAny>,
        hidden_dim: &Bound<'_, PyAny>,
        output_dim: &Bound<'_, PyAny>,
        activation: &str,
        bias: bool,
    ) -> Result<Self> {
        Ok(NetState::new_for(TwoLayer {
            input_dim: count(input_dim, "input_dim")?,
            hidden_dim: count(hidden_dim, "hidden_dim")?,
            output_dim: count(output_dim, "output_dim")?,
            activation: parse_activation(activation)?,
            bias,
        }))
    }

    /// The state of the net that the parameters describe, with the errors
    /// of :func:`mlp_forward` when they describe none.
    #[staticmethod]
    #[pyo3(signature = (w1, b1, w2, b2, activation, /))]
    fn of_parameters(
        w1: &Bound<'_, PyAny>,
        b1: Option<&Bound<'_, PyAny>>,
        w2: &Bound<'_, PyAny>,
        b2: Option<&Bound<'_, PyAny>>,
        activation: &str,
    ) -> Result<Self> {
        let activation = parse_activation(activation)?;
        // Converted as the calls convert them: a w1 or w2 of None is their TypeError.
        let (w1, b1) = (float_array(w1, "w1")?, optional(b1, "b1")?);
        let (w2, b2) = (float_array(w2, "w2")?, optional(b2, "b2")?);
        let net = describe_shapes(
            w1.shape(),
            b1.as_ref().map(FloatArray::shape),
            w2.shape(),
            b2.as_ref().map(FloatArray::shape),
            activation,
        )?;
        Ok(NetState::new_for(net))
    }

    #[getter]
    fn input_dim(&self) -> usize {
        self.net.input_dim
    }

    #[getter]
    fn hidden_dim(&self) -> usize {
        self.net.hidden_dim
    }

    #[getter]
    fn output_dim(&self) -> usize {
        self.net.output_dim
    }

    #[getter]
    fn activation<'py>(&self, py: Python<'py>) -> &Bound<'py, PyString> {
        // Interned: the Rust backend compares it on every call (`benches/test_training.py`).
        match self.net.activation {
            Activation::Relu => intern!(py, "relu"),
            Activation::Sigmoid => intern!(py, "sigmoid"),
            Activation::Step => intern!(py, "step"),
        }
    }

    #[getter]
    fn bias(&self) -> bool {
        self.net.bias
    }

    fn __repr__(&self) -> String {
        let net = &self.net;
        format!(
            "TwoLayer({}, {}, {}, {:?}, {})",
            net.input_dim,
            net.hidden_dim,
            net.output_dim,
            net.activation.name(),
            if net.bias { "True" } else { "False" }
        )
    }

    /// :func:`mlp_forward` for this net.
    #[pyo3(signature = (x, w1, b1, w2, b2, /))]
    fn forward<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
    ) -> Result<Bound<'py, PyAny>> {
        let raw = Raw::new(x, None, w1, b1, w2, b2)?;
        evaluate(raw, Some(self), self.net.activation, Evaluation::Forward)
    }

    /// :func:`mlp_loss` for this net.
    #[pyo3(signature = (x, y, w1, b1, w2, b2, reduction = "sum", /))]
    #[allow(clippy::too_many_arguments)]
    fn loss<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
        reduction: &str,
    ) -> Result<Bound<'py, PyAny>> {
        let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
        let what = Evaluation::Loss(parse_reduction(reduction)?);
        evaluate(raw, Some(self), self.net.activation, what)
    }

    /// :func:`mlp_gradients` for this net.
    #[pyo3(signature = (x, y, w1, b1, w2, b2, reduction = "sum", /))]
    #[allow(clippy::too_many_arguments)]
    fn gradients<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
        reduction: &str,
    ) -> Result<Bound<'py, PyAny>> {
        let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
        let what = Evaluation::Gradients(parse_reduction(reduction)?);
        evaluate(raw, Some(self), self.net.activation, what)
    }

    /// :func:`mlp_train_step` for this net.
    #[pyo3(signature = (x, y, w1, b1, w2, b2, reduction, lr, /))]
    #[allow(clippy::too_many_arguments)]
    fn train_step<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
        reduction: &str,
        lr: f64,
    ) -> Result<Bound<'py, PyAny>> {
        let raw = Raw::new(x, Some(y), w1, b1, w2, b2)?;
        let what = Evaluation::TrainStep(parse_reduction(reduction)?, lr);
        evaluate(raw, Some(self), self.net.activation, what)
    }

    /// :func:`mlp_fit` for this net.
    #[pyo3(signature = (
        x, y, w1, b1, w2, b2, /, *, steps, lr, reduction = "sum", batch_size = None,
        callback = None, callback_every = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &self,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        w1: &Bound<'py, PyAny>,
        b1: Option<&Bound<'py, PyAny>>,
        w2: &Bound<'py, PyAny>,
        b2: Option<&Bound<'py, PyAny>>,
        steps: &Bound<'py, PyAny>,
        lr: f64,
        reduction: &str,
        batch_size: Option<&Bound<'py, PyAny>>,
        callback: Option<Py<PyAny>>,
        callback_every: Option<&Bound<'py, PyAny>>,
    ) -> Result<Bound<'py, PyAny>> {
        let call = FitCall {
            x,
            y,
            w1,
            b1,
            w2,
            b2,
            activation: self.net.activation,
            steps,
            lr,
            reduction,
            batch_size,
            callback,
            callback_every,
        };
        fit(call, Some(self))
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<NetState>()
}
