//! The optimizer's state as a Python dict and back (warm starts, pickling).

use numpy::prelude::*;
use numpy::PyArray1;
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};
use pyo3::types::{PyDict, PyList};

use super::arrays::array;
use crate::bindings::convert::{shape_str, PyFloat};
use crate::kernels::network::{Adam, Layout, Optimizer, Sgd};

/// The shape of parameter `index` in scikit-learn's order (coefficients,
/// then intercepts).
fn param_shape(layout: &Layout, index: usize) -> Vec<usize> {
    let layers = layout.layers();
    if index < layers {
        let (rows, cols) = layout.coef_shape(index);
        vec![rows, cols]
    } else {
        vec![layout.sizes[index - layers + 1]]
    }
}

fn to_arrays<'py, T: PyFloat>(
    py: Python<'py>,
    layout: &Layout,
    buffers: &[Vec<T>],
) -> Result<Bound<'py, PyList>> {
    let arrays = buffers
        .iter()
        .enumerate()
        .map(|(index, buffer)| {
            PyArray1::from_slice(py, buffer)
                .reshape(param_shape(layout, index))
                .map(Bound::into_any)
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, arrays)?)
}

/// `{"kind": "sgd", ...}` or `{"kind": "adam", ...}`.
pub fn to_dict<'py, T: PyFloat>(
    py: Python<'py>,
    layout: &Layout,
    optimizer: &Optimizer<T>,
) -> Result<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    match optimizer {
        Optimizer::Sgd(sgd) => {
            dict.set_item("kind", "sgd")?;
            dict.set_item("learning_rate", sgd.learning_rate)?;
            dict.set_item("momentum", sgd.momentum)?;
            dict.set_item("nesterov", sgd.nesterov)?;
            dict.set_item("velocities", to_arrays(py, layout, &sgd.velocities)?)?;
        }
        Optimizer::Adam(adam) => {
            dict.set_item("kind", "adam")?;
            dict.set_item("learning_rate_init", adam.learning_rate_init)?;
            dict.set_item("learning_rate", adam.learning_rate)?;
            dict.set_item("beta_1", adam.beta_1)?;
            dict.set_item("beta_2", adam.beta_2)?;
            dict.set_item("epsilon", adam.epsilon)?;
            dict.set_item("t", adam.t)?;
            dict.set_item("ms", to_arrays(py, layout, &adam.ms)?)?;
            dict.set_item("vs", to_arrays(py, layout, &adam.vs)?)?;
        }
    }
    Ok(dict)
}

fn item<'py>(state: &Bound<'py, PyDict>, key: &str) -> Result<Bound<'py, PyAny>> {
    state
        .get_item(key)?
        .ok_or_else(|| Error::value(format!("state has no {key:?} entry")))
}

fn number<'py, V: FromPyObjectOwned<'py>>(state: &Bound<'py, PyDict>, key: &str) -> Result<V> {
    item(state, key)?
        .extract()
        .map_err(|_| Error::type_(format!("state[{key:?}] has the wrong type")))
}

fn from_arrays<'py, T: PyFloat>(
    state: &Bound<'py, PyDict>,
    key: &'static str,
    layout: &Layout,
) -> Result<Vec<Vec<T>>> {
    let list = item(state, key)?;
    let items: Vec<Bound<'py, PyAny>> = list
        .try_iter()
        .map_err(|_| Error::type_(format!("state[{key:?}] must be a list of arrays")))?
        .collect::<PyResult<_>>()?;
    let count = 2 * layout.layers();
    if items.len() != count {
        return Err(Error::value(format!(
            "state[{key:?}] has {} arrays, but the network has {count} parameters",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, obj)| {
            let shape = param_shape(layout, index);
            let checked = array::<T>(obj, key, Some(index), shape.len(), false)?;
            if checked.shape() != shape.as_slice() {
                return Err(Error::value(format!(
                    "state[{key:?}][{index}] has shape {}, but {} is expected",
                    shape_str(checked.shape()),
                    shape_str(&shape)
                )));
            }
            // SAFETY: checked C-contiguous and aligned, copied at once.
            Ok(unsafe { checked.slice() }.to_vec())
        })
        .collect()
}

/// The optimizer `to_dict` described.
pub fn from_dict<T: PyFloat>(state: &Bound<'_, PyDict>, layout: &Layout) -> Result<Optimizer<T>> {
    let kind: String = number(state, "kind")?;
    match kind.as_str() {
        "sgd" => Ok(Optimizer::Sgd(Sgd {
            learning_rate: number(state, "learning_rate")?,
            momentum: number(state, "momentum")?,
            nesterov: number(state, "nesterov")?,
            velocities: from_arrays(state, "velocities", layout)?,
        })),
        "adam" => Ok(Optimizer::Adam(Adam {
            learning_rate_init: number(state, "learning_rate_init")?,
            learning_rate: number(state, "learning_rate")?,
            beta_1: number(state, "beta_1")?,
            beta_2: number(state, "beta_2")?,
            epsilon: number(state, "epsilon")?,
            t: number(state, "t")?,
            ms: from_arrays(state, "ms", layout)?,
            vs: from_arrays(state, "vs", layout)?,
        })),
        other => Err(Error::value(format!(
            "state[\"kind\"] is {other:?}, but \"sgd\" or \"adam\" is expected"
        ))),
    }
}
