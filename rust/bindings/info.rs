//! Thread count and build information.

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;

use crate::bindings::error::{Error, Result};
use pyo3::types::{PyBool, PyDict, PyList};

use crate::kernels::simd::{self, Level};
use crate::kernels::{blas, gemm, parallel};

const MAX_THREADS: i64 = parallel::MAX_THREADS as i64;

/// Sets the number of threads neurust's kernels use.
///
/// Parameters
/// ----------
/// n : int
///     Between 1 and 4096. Results do not depend on it; only speed does.
///
/// Raises
/// ------
/// ValueError
///     If ``n`` is outside 1..4096.
/// TypeError
///     If ``n`` is not an int.
///
/// Examples
/// --------
/// >>> nr.set_num_threads(1)
/// >>> nr.get_num_threads()
/// 1
#[pyfunction(name = "set_num_threads", signature = (n, /))]
fn set_num_threads_py(n: &Bound<'_, PyAny>) -> Result<()> {
    let not_an_int = || -> Result<Error> {
        Ok(Error::type_(format!(
            "n must be an int, got {}",
            n.get_type().name()?
        )))
    };
    if n.is_instance_of::<PyBool>() {
        return Err(not_an_int()?);
    }
    // Anything with __index__ (int, numpy integers) is accepted, as numpy does.
    let threads = match n.extract::<i64>() {
        Ok(threads) => threads,
        Err(error) if error.is_instance_of::<PyOverflowError>(n.py()) => i64::MAX,
        Err(_) => return Err(not_an_int()?),
    };
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(Error::value(format!(
            "n must be between 1 and {MAX_THREADS}, got {n}"
        )));
    }
    parallel::set_num_threads(threads as usize);
    Ok(())
}

/// The number of threads neurust's kernels use (default: the CPU count,
/// or ``NEURUST_NUM_THREADS`` if set).
#[pyfunction(name = "get_num_threads")]
fn get_num_threads_py() -> usize {
    parallel::num_threads()
}

fn simd_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = Vec::new();
        macro_rules! probe {
            ($($name:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($name) {
                    found.push($name);
                }
            )*};
        }
        probe!("sse2", "avx", "avx2", "fma", "avx512f");
        found
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

/// How this copy of neurust was built and what it runs on.
///
/// Returns
/// -------
/// dict
///     ``version``, ``profile`` (``"release"`` or ``"debug"``: benchmark
///     only release builds), ``num_threads``, ``simd`` (CPU features the
///     kernels detected), ``gemm`` (the GEMM libraries and the kernels they
///     picked: OpenBLAS when the scipy-openblas64 package is installed,
///     faer otherwise), ``target``, ``simd_level`` (the instruction set the
///     kernels use: ``"scalar"``, ``"avx"``, ``"avx2"`` or ``"avx512"``),
///     ``simd_cpu`` (the widest this CPU has), ``simd_forced`` (whether
///     ``NEURUST_SIMD`` narrowed the level below the CPU's) and
///     ``small_gemm`` (the kernels small products run on at that level).
///
/// Examples
/// --------
/// >>> nr.build_info()["profile"]
/// 'release'
#[pyfunction(name = "build_info")]
fn build_info_py(py: Python<'_>) -> Result<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    let features = simd_features();
    info.set_item("version", env!("CARGO_PKG_VERSION"))?;
    info.set_item(
        "profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    info.set_item("num_threads", parallel::num_threads())?;
    info.set_item("simd", PyList::new(py, &features)?)?;
    let faer = format!("faer 0.24 ({})", gemm::faer_kernel_name());
    match blas::active() {
        // Strided views that CBLAS cannot take still go to faer.
        Some(lib) => {
            let narrow = blas::faer_max_cols_f64()
                .map(|max| format!(" and float64 products of at most {max} columns"))
                .unwrap_or_default();
            let text = format!("{}; {faer} for other strides{narrow}", lib.name);
            info.set_item("gemm", text)?;
            // Products split over threads are cut at multiples of these
            // (rows, columns; 0: never cut that way).
            let align = blas::panel_alignment(lib);
            info.set_item("gemm_panel_alignment", (align.rows, align.cols))?;
        }
        None => info.set_item("gemm", faer)?,
    }
    let align = gemm::faer_panel_alignment();
    info.set_item("faer_panel_alignment", (align.rows, align.cols))?;
    info.set_item(
        "target",
        format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
    )?;
    info.set_item("simd_level", Level::detect().name())?;
    info.set_item("simd_cpu", Level::cpu().name())?;
    info.set_item("simd_forced", simd::is_forced())?;
    info.set_item("small_gemm", gemm::small_kernel_name())?;
    info.set_item("parallel_min_elements", parallel::ELEMENTWISE_PARALLEL_MIN)?;
    info.set_item("parallel_min_gemm", crate::kernels::gemm::PARALLEL_GEMM)?;
    Ok(info)
}

/// Warns (`RuntimeWarning`) when `NEURUST_SIMD` names no level or one the
/// CPU lacks, and when `NEURUST_NUM_THREADS` is set to a value
/// `set_num_threads` would refuse: the pool ignores it, and without a word
/// the user would never learn why their setting has no effect.
fn warn_about_the_environment(py: Python<'_>) -> PyResult<()> {
    let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
    // `NEURUST_SIMD` the same way: a level the CPU lacks or an unknown name
    // falls back to the CPU's widest level.
    if let Err(error) = simd::level_from_environment() {
        PyErr::warn(
            py,
            &category,
            &std::ffi::CString::new(error.to_string())?,
            1,
        )?;
    }
    let Err(value) = parallel::threads_from_environment() else {
        return Ok(());
    };
    let message = format!(
        "{}='{value}' is ignored: it must be an integer between 1 and {MAX_THREADS} \
         (as for set_num_threads); using {} threads, the CPU count",
        parallel::THREADS_VARIABLE,
        parallel::available_threads()
    );
    PyErr::warn(py, &category, &std::ffi::CString::new(message)?, 1)
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    warn_about_the_environment(module.py())?;
    module.add_function(wrap_pyfunction!(set_num_threads_py, module)?)?;
    module.add_function(wrap_pyfunction!(get_num_threads_py, module)?)?;
    module.add_function(wrap_pyfunction!(build_info_py, module)?)?;
    Ok(())
}
