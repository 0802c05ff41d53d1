//! The arrays `Network` reads and writes: checked for dtype, shape, layout and overlap, then read in place.
//!
//! Each check raises the exception the project promises: `TypeError` for a
//! wrong type or dtype, `ValueError` for a wrong shape, layout or overlap,
//! naming the argument. The data is then read through the raw pointer, as
//! `convert` does: sound because every array is C-contiguous and aligned,
//! the writeable ones overlap nothing else (checked by address), and no
//! slice outlives the call.

use numpy::npyffi;
use numpy::prelude::*;
use numpy::{Element as NumpyElement, PyArrayDyn, PyUntypedArray};
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};
use pyo3::types::{PyList, PyTuple};

use crate::bindings::convert::{shape_str, PyFloat};
use crate::kernels::network::{Csr, Indices, Input, Layout};

fn flags(array: &Bound<'_, PyUntypedArray>) -> i32 {
    // SAFETY: a live ndarray object always has a valid flags field.
    unsafe { (*npyffi::objects::_PyArray_GET_ITEM_DATA(array.as_array_ptr())).flags }
}

/// The memory an array covers, for the overlap checks.
#[derive(Clone, Copy)]
pub struct Extent {
    pub name: &'static str,
    pub index: Option<usize>,
    start: usize,
    end: usize,
    writeable: bool,
}

impl Extent {
    fn label(&self) -> String {
        match self.index {
            Some(i) => format!("{}[{i}]", self.name),
            None => self.name.to_string(),
        }
    }
}

/// Refuses any writeable array that shares memory with another array.
pub fn check_no_overlap(extents: &[Extent]) -> Result<()> {
    for (i, a) in extents.iter().enumerate() {
        for b in &extents[i + 1..] {
            let overlap = a.start < b.end && b.start < a.end;
            if overlap && (a.writeable || b.writeable) {
                return Err(Error::value(format!(
                    "{} and {} share memory, but {} is updated in place: pass separate arrays",
                    a.label(),
                    b.label(),
                    if a.writeable { a.label() } else { b.label() },
                )));
            }
        }
    }
    Ok(())
}

/// A checked array of element `E`: its object (kept alive), shape and extent.
pub struct Checked<'py, E: NumpyElement> {
    pub array: Bound<'py, PyArrayDyn<E>>,
    pub extent: Extent,
}

impl<'py, E: NumpyElement> Checked<'py, E> {
    /// The elements.
    ///
    /// # Safety
    /// No `&mut` to the same memory may be live (the overlap checks ensure
    /// it for the arrays of one call).
    pub unsafe fn slice(&self) -> &[E] {
        let len = self.array.len();
        if len == 0 {
            return &[];
        }
        std::slice::from_raw_parts(self.array.data(), len)
    }

    /// The elements, mutably.
    ///
    /// # Safety
    /// No other reference to the same memory may be live.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self) -> &mut [E] {
        let len = self.array.len();
        if len == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.array.data(), len)
    }

    pub fn shape(&self) -> &[usize] {
        self.array.shape()
    }
}

/// `obj` as an aligned, C-contiguous ndarray of `E` with `ndim`
/// dimensions (and writeable when asked).
pub fn array<'py, E: NumpyElement>(
    obj: &Bound<'py, PyAny>,
    name: &'static str,
    index: Option<usize>,
    ndim: usize,
    writeable: bool,
) -> Result<Checked<'py, E>> {
    let label = match index {
        Some(i) => format!("{name}[{i}]"),
        None => name.to_string(),
    };
    let py = obj.py();
    let expected = numpy::dtype::<E>(py);
    let Ok(untyped) = obj.cast::<PyUntypedArray>() else {
        return Err(Error::type_(format!(
            "{label} must be a numpy ndarray of {expected}, got {}",
            obj.get_type().name()?
        )));
    };
    let Ok(typed) = obj.cast::<PyArrayDyn<E>>() else {
        return Err(Error::type_(format!(
            "{label} has dtype {}, but {expected} is expected",
            untyped.dtype()
        )));
    };
    if untyped.ndim() != ndim {
        return Err(Error::value(format!(
            "{label} must be {ndim}-D, got shape {}",
            shape_str(untyped.shape())
        )));
    }
    let f = flags(untyped);
    let behaved = npyffi::NPY_ARRAY_C_CONTIGUOUS | npyffi::NPY_ARRAY_ALIGNED;
    if f & behaved != behaved {
        return Err(Error::value(format!(
            "{label} must be a C-contiguous, aligned array (np.ascontiguousarray gives one)"
        )));
    }
    if writeable && f & npyffi::NPY_ARRAY_WRITEABLE == 0 {
        return Err(Error::value(format!(
            "{label} is read-only, but it is updated in place"
        )));
    }
    let start = typed.data() as usize;
    let extent = Extent {
        name,
        index,
        start,
        end: start + typed.len() * std::mem::size_of::<E>(),
        writeable,
    };
    Ok(Checked {
        array: typed.clone(),
        extent,
    })
}

/// `obj`, a list or tuple of arrays, one per layer, with the shapes `shape(l)`.
pub fn layer_arrays<'py, T: PyFloat>(
    obj: &Bound<'py, PyAny>,
    name: &'static str,
    layout: &Layout,
    coef: bool,
    writeable: bool,
) -> Result<Vec<Checked<'py, T>>> {
    let items: Vec<Bound<'py, PyAny>> = if let Ok(list) = obj.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Err(Error::type_(format!(
            "{name} must be a list of numpy arrays, got {}",
            obj.get_type().name()?
        )));
    };
    if items.len() != layout.layers() {
        return Err(Error::value(format!(
            "{name} has {} arrays, but the network has {} layers",
            items.len(),
            layout.layers()
        )));
    }
    let mut arrays = Vec::with_capacity(items.len());
    for (layer, item) in items.iter().enumerate() {
        let (rows, cols) = layout.coef_shape(layer);
        let expected: Vec<usize> = if coef { vec![rows, cols] } else { vec![cols] };
        let checked = array::<T>(item, name, Some(layer), expected.len(), writeable)?;
        if checked.shape() != expected.as_slice() {
            return Err(Error::value(format!(
                "{name}[{layer}] has shape {}, but layer {layer} needs {}",
                shape_str(checked.shape()),
                shape_str(&expected)
            )));
        }
        arrays.push(checked);
    }
    Ok(arrays)
}

/// The samples: a dense array or scipy's CSR arrays, each checked.
pub enum Samples<'py, T: PyFloat> {
    Dense(Checked<'py, T>),
    Csr {
        data: Checked<'py, T>,
        index: CsrIndex<'py>,
        cols: usize,
    },
}

pub enum CsrIndex<'py> {
    I32(Checked<'py, i32>, Checked<'py, i32>),
    I64(Checked<'py, i64>, Checked<'py, i64>),
}

impl<'py, T: PyFloat> Samples<'py, T> {
    /// `x`: a 2-D array, or a tuple `(data, indices, indptr, n_features)`.
    pub fn new(x: &Bound<'py, PyAny>, layout: &Layout) -> Result<Self> {
        let samples = if let Ok(tuple) = x.cast::<PyTuple>() {
            if tuple.len() != 4 {
                return Err(Error::value(format!(
                    "X as a CSR tuple must be (data, indices, indptr, n_features), got {} items",
                    tuple.len()
                )));
            }
            let data = array::<T>(&tuple.get_item(0)?, "X data", None, 1, false)?;
            let (indices, indptr) = (tuple.get_item(1)?, tuple.get_item(2)?);
            let index = if indices.cast::<PyArrayDyn<i32>>().is_ok() {
                CsrIndex::I32(
                    array(&indices, "X indices", None, 1, false)?,
                    array(&indptr, "X indptr", None, 1, false)?,
                )
            } else if indices.cast::<PyArrayDyn<i64>>().is_ok() {
                CsrIndex::I64(
                    array(&indices, "X indices", None, 1, false)?,
                    array(&indptr, "X indptr", None, 1, false)?,
                )
            } else {
                return Err(Error::type_(
                    "X indices must be a numpy array of int32 or int64",
                ));
            };
            let cols: i64 = tuple.get_item(3)?.extract().map_err(|_| {
                Error::type_("X's n_features (the CSR tuple's 4th item) must be an int")
            })?;
            let cols = usize::try_from(cols).map_err(|_| {
                Error::value(format!("X's n_features is {cols}, but it must be >= 0"))
            })?;
            Samples::Csr { data, index, cols }
        } else {
            Samples::Dense(array::<T>(x, "X", None, 2, false)?)
        };
        let (rows, cols) = samples.shape()?;
        if cols != layout.inputs() {
            return Err(Error::value(format!(
                "X has {cols} features, but the network's first layer takes {}",
                layout.inputs()
            )));
        }
        if rows == 0 {
            return Err(Error::value("X has 0 samples, but at least 1 is needed"));
        }
        Ok(samples)
    }

    fn shape(&self) -> Result<(usize, usize)> {
        match self {
            Samples::Dense(x) => Ok((x.shape()[0], x.shape()[1])),
            Samples::Csr { index, cols, .. } => {
                let pointers = match index {
                    CsrIndex::I32(_, indptr) => indptr.shape()[0],
                    CsrIndex::I64(_, indptr) => indptr.shape()[0],
                };
                if pointers == 0 {
                    return Err(Error::value("X indptr is empty"));
                }
                Ok((pointers - 1, *cols))
            }
        }
    }

    pub fn rows(&self) -> usize {
        self.shape().map(|(rows, _)| rows).unwrap_or(0)
    }

    pub fn extents(&self) -> Vec<Extent> {
        match self {
            Samples::Dense(x) => vec![x.extent],
            Samples::Csr { data, index, .. } => {
                let mut extents = vec![data.extent];
                match index {
                    CsrIndex::I32(a, b) => extents.extend([a.extent, b.extent]),
                    CsrIndex::I64(a, b) => extents.extend([a.extent, b.extent]),
                }
                extents
            }
        }
    }

    /// The kernel's view of the samples (a CSR input is checked here).
    ///
    /// # Safety
    /// As `Checked::slice`.
    pub unsafe fn input(&self) -> Result<Input<'_, T>> {
        match self {
            Samples::Dense(x) => Ok(Input::Dense {
                data: x.slice(),
                rows: x.shape()[0],
                cols: x.shape()[1],
            }),
            Samples::Csr { data, index, cols } => {
                let indices = match index {
                    CsrIndex::I32(indices, indptr) => Indices::I32 {
                        indices: indices.slice(),
                        indptr: indptr.slice(),
                    },
                    CsrIndex::I64(indices, indptr) => Indices::I64 {
                        indices: indices.slice(),
                        indptr: indptr.slice(),
                    },
                };
                let csr = Csr::new(data.slice(), indices, *cols)
                    .map_err(|err| Error::value(err.to_string()))?;
                Ok(Input::Csr(csr))
            }
        }
    }
}

/// `y`: `rows × outputs`.
pub fn targets<'py, T: PyFloat>(
    y: &Bound<'py, PyAny>,
    rows: usize,
    layout: &Layout,
) -> Result<Checked<'py, T>> {
    let y = array::<T>(y, "y", None, 2, false)?;
    let expected = [rows, layout.outputs()];
    if y.shape() != expected {
        return Err(Error::value(format!(
            "y has shape {}, but X has {rows} samples and the network {} outputs: {} expected",
            shape_str(y.shape()),
            layout.outputs(),
            shape_str(&expected)
        )));
    }
    Ok(y)
}

/// `sample_weight`: None or `rows` weights.
pub fn weights<'py, T: PyFloat>(
    sample_weight: &Bound<'py, PyAny>,
    rows: usize,
) -> Result<Option<Checked<'py, T>>> {
    if sample_weight.is_none() {
        return Ok(None);
    }
    let w = array::<T>(sample_weight, "sample_weight", None, 1, false)?;
    if w.shape()[0] != rows {
        return Err(Error::value(format!(
            "sample_weight has {} entries, but X has {rows} samples",
            w.shape()[0]
        )));
    }
    Ok(Some(w))
}
