//! Buffers reused from one call to the next: each dtype's last workspace, and result arrays nothing refers to any more.

use std::sync::Mutex;

use numpy::prelude::*;
use numpy::PyArrayDyn;
use pyo3::prelude::*;

use crate::bindings::convert::{new_array, out_array, Out, PyFloat};
use crate::kernels::mlp::{TwoLayer, Workspace};

/// The workspace of the last evaluation, one per dtype, kept for the next:
/// a training loop calls `mlp_gradients` with the same net and batch every
/// step, and fresh buffers are fresh pages to fault in every call.
static KEPT_F64: Mutex<Option<Workspace<f64>>> = Mutex::new(None);
static KEPT_F32: Mutex<Option<Workspace<f32>>> = Mutex::new(None);

/// The largest workspace kept between calls, in bytes (the seeds' net at
/// 1024 rows needs 5 MB).
const KEPT_MAX_BYTES: usize = 32 << 20;

/// The dtypes with a kept workspace.
pub trait Kept: Sized + 'static {
    fn slot() -> &'static Mutex<Option<Workspace<Self>>>;
}

impl Kept for f64 {
    fn slot() -> &'static Mutex<Option<Workspace<f64>>> {
        &KEPT_F64
    }
}

impl Kept for f32 {
    fn slot() -> &'static Mutex<Option<Workspace<f32>>> {
        &KEPT_F32
    }
}

/// A workspace taken from its slot (or new, when the kept one is for
/// another net, too small, or in use by another thread), put back on drop.
/// Every buffer is written by a pass before it is read, so what a previous
/// call left in it does not matter.
pub struct KeptWorkspace<T: Kept + PyFloat>(Option<Workspace<T>>);

impl<T: Kept + PyFloat> KeptWorkspace<T> {
    pub fn take(net: TwoLayer, rows: usize) -> PyResult<Self> {
        let kept = T::slot().lock().unwrap_or_else(|e| e.into_inner()).take();
        let workspace = match kept {
            Some(workspace) if workspace.fits(&net, rows) => workspace,
            _ => Workspace::new(net, rows)?,
        };
        Ok(KeptWorkspace(Some(workspace)))
    }
}

impl<T: Kept + PyFloat> std::ops::Deref for KeptWorkspace<T> {
    type Target = Workspace<T>;
    fn deref(&self) -> &Workspace<T> {
        self.0.as_ref().expect("present until dropped")
    }
}

impl<T: Kept + PyFloat> std::ops::DerefMut for KeptWorkspace<T> {
    fn deref_mut(&mut self) -> &mut Workspace<T> {
        self.0.as_mut().expect("present until dropped")
    }
}

impl<T: Kept + PyFloat> Drop for KeptWorkspace<T> {
    fn drop(&mut self) {
        let Some(workspace) = self.0.take() else {
            return;
        };
        if workspace.bytes() <= KEPT_MAX_BYTES {
            // The one it replaces (another thread's) is freed after the lock.
            let replaced = T::slot()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(workspace);
            drop(replaced);
        }
    }
}

/// Result arrays handed out before, kept to be handed out again once
/// nothing in Python refers to them. A training loop that drops last step's
/// gradients (or parameters) gets written memory back instead of fresh
/// pages: a new 1000×100 float64 gradient cost 200 page faults a call, and
/// the faults took 8% of a gradients call at the seeds' size.
static SPARE: Mutex<Vec<Py<PyAny>>> = Mutex::new(Vec::new());

/// How many result arrays `SPARE` keeps (the gradients and the stepped
/// parameters of two steps, with biases).
const SPARE_MAX: usize = 16;

/// The largest array `SPARE` keeps, in bytes, so that it holds at most
/// 64 MiB a process has finished with. Above it the product's own time
/// dwarfs the fresh pages' (the seeds' largest gradient is 0.8 MB).
const SPARE_MAX_BYTES: usize = 4 << 20;

/// Whether `SPARE` holds the only reference to `entry` (callers hold the GIL).
fn only_spare(entry: &Py<PyAny>) -> bool {
    // SAFETY: `entry` is a live object.
    unsafe { pyo3::ffi::Py_REFCNT(entry.as_ptr()) == 1 }
}

/// An array nobody else can see: only `SPARE` refers to it, no view or
/// weak reference reaches it, and it is still `T`, shaped `shape`,
/// C-contiguous and writeable (Python may have changed those in place).
fn unseen<'py, T: PyFloat>(
    entry: &Py<PyAny>,
    py: Python<'py>,
    shape: &[usize],
) -> Option<Bound<'py, PyArrayDyn<T>>> {
    if !only_spare(entry) {
        return None;
    }
    let array = entry.bind(py).cast::<PyArrayDyn<T>>().ok()?;
    // SAFETY: a live ndarray object always has valid fields, whichever
    // numpy's layout.
    let weakly_held = unsafe {
        !(*numpy::npyffi::objects::_PyArray_GET_ITEM_DATA(array.as_array_ptr()))
            .weakreflist
            .is_null()
    };
    if weakly_held || array.shape() != shape {
        return None;
    }
    match out_array::<T>(array.as_any(), shape).ok()? {
        Out::Direct(direct) => Some(direct),
        Out::Cast(_) => None,
    }
}

/// A C-order array of `shape` whose every element the caller writes: one
/// from `SPARE` that nothing else refers to, or a new one (kept in `SPARE`).
pub fn recycled_array<'py, T: PyFloat>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    {
        let spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(array) = spare.iter().find_map(|entry| unseen::<T>(entry, py, shape)) {
            return Ok(array);
        }
    }
    // Allocated without the lock held: numpy may run Python code.
    let array = new_array::<T>(py, shape)?;
    if shape.iter().product::<usize>() * std::mem::size_of::<T>() > SPARE_MAX_BYTES {
        return Ok(array);
    }
    let kept = array.clone().into_any().unbind();
    let dropped = {
        let mut spare = SPARE.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_MAX {
            spare.push(kept);
            None
        } else {
            // Replaces an array nothing else refers to, if there is one.
            spare
                .iter_mut()
                .find(|entry| only_spare(entry))
                .map(|entry| std::mem::replace(entry, kept))
        }
    };
    drop(dropped);
    Ok(array)
}
