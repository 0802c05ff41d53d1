//! Loading OpenBLAS (the scipy-openblas64 wheel's build) for large products.

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

use libloading::Library;
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};

use crate::kernels::blas::{self, Cblas, GemmFn, GetThreadsFn, SetThreadsFn};

/// The symbol names of scipy-openblas64: a `scipy_` prefix and a `64_`
/// suffix, so that they never clash with another BLAS in the process.
const DGEMM: &[u8] = b"scipy_cblas_dgemm64_\0";
const SGEMM: &[u8] = b"scipy_cblas_sgemm64_\0";
const GET_THREADS: &[u8] = b"scipy_openblas_get_num_threads64_\0";
const SET_THREADS: &[u8] = b"scipy_openblas_set_num_threads64_\0";
const CONFIG: &[u8] = b"scipy_openblas_get_config64_\0";
const CORE: &[u8] = b"scipy_openblas_get_corename64_\0";

type TextFn = unsafe extern "C" fn() -> *const c_char;

fn text(function: TextFn) -> String {
    // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string.
    unsafe {
        let pointer = function();
        if pointer.is_null() {
            String::new()
        } else {
            CStr::from_ptr(pointer).to_string_lossy().into_owned()
        }
    }
}

fn load(path: &str) -> Result<Cblas, libloading::Error> {
    // SAFETY: loading runs the library's initialisers, which for OpenBLAS
    // detect the CPU and set up its buffers. Each symbol is read with the
    // signature of its C declaration in OpenBLAS's cblas.h / openblas_config.h
    // (ILP64 build: 64-bit integers).
    unsafe {
        let library = Library::new(path)?;
        let dgemm: GemmFn<f64> = *library.get(DGEMM)?;
        let sgemm: GemmFn<f32> = *library.get(SGEMM)?;
        let get_threads: GetThreadsFn = *library.get(GET_THREADS)?;
        let set_threads: SetThreadsFn = *library.get(SET_THREADS)?;
        let config: TextFn = *library.get(CONFIG)?;
        let core: TextFn = *library.get(CORE)?;
        set_threads(1);
        let version = text(config);
        let version = version
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let name = format!("{version} ({})", text(core));
        // The function pointers live as long as the library: never unload it.
        std::mem::forget(library);
        static ALIGNMENT: OnceLock<blas::PanelAlignment> = OnceLock::new();
        Ok(Cblas {
            dgemm,
            sgemm,
            get_threads,
            set_threads,
            name: Box::leak(name.into_boxed_str()),
            alignment: &ALIGNMENT,
        })
    }
}

/// Loads the OpenBLAS shared library at ``path`` (scipy-openblas64) and
/// runs large products on it. Called once at import; later calls do nothing.
/// Returns the library's name and version.
#[pyfunction(name = "_load_openblas", signature = (path, /))]
fn load_openblas_py(py: Python<'_>, path: &str) -> Result<&'static str> {
    if let Some(lib) = blas::installed() {
        return Ok(lib.name);
    }
    let lib = py
        .detach(|| load(path))
        .map_err(|error| Error::Os(format!("cannot load OpenBLAS from {path}: {error}")))?;
    // SAFETY: the pointers are scipy-openblas64's CBLAS entry points, which
    // are thread-safe, and the library is never unloaded (see `load`).
    unsafe { blas::install(lib) };
    Ok(blas::installed().map_or(lib.name, |lib| lib.name))
}

/// Turns OpenBLAS on or off for large products (off: faer for every size).
/// For tests and benchmarks that compare the two.
#[pyfunction(name = "_use_openblas", signature = (enabled, /))]
fn use_openblas_py(enabled: bool) {
    blas::set_enabled(enabled);
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(load_openblas_py, module)?)?;
    module.add_function(wrap_pyfunction!(use_openblas_py, module)?)?;
    Ok(())
}
