//! The faer path: every product CBLAS does not take, on one thread or in panels over neurust's pool.

use std::ffi::c_int;
use std::sync::OnceLock;

use faer::{MatMut, MatRef, Par};

use super::{cblas, View, PARALLEL_GEMM};
use crate::kernels::blas::{self, Cblas, PanelAlignment};
use crate::kernels::parallel;
#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::Level;
use crate::kernels::Element;

fn as_faer<T>(view: View<'_, T>) -> MatRef<'_, T> {
    // SAFETY: a `View` is only built over a slice holding every element it
    // addresses (checked in `row_major`; `t` only swaps the strides), the
    // strides fit in isize because the slice length does, and the borrow
    // keeps the data alive and unmutated for the returned lifetime.
    unsafe {
        MatRef::from_raw_parts(
            view.data.as_ptr(),
            view.rows,
            view.cols,
            view.row_stride as isize,
            view.col_stride as isize,
        )
    }
}

/// `matmul` through faer. From `PARALLEL_GEMM` on more than one thread,
/// the product is cut into panels that neurust's threads take in turn, as
/// OpenBLAS's are (`cblas::matmul`), through `FAER` below; faer's own rayon
/// split remains for operands without a unit stride. Under load from other
/// processes that split ran the tutorial's fit (1024 rows) slower on two
/// threads than on one, its threads waiting for each other busily; the
/// panels stay near the one-thread speed (the "1 process (fused), 2
/// threads" row of `benches/distributed.py`; figures in docs/performance.md).
pub(super) fn matmul<T: Element>(
    out: &mut [T],
    a: View<'_, T>,
    b: View<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    let (m, n) = (a.rows, b.cols);
    let work = m * n * a.cols;
    let threads = parallel::num_threads();
    let parallel = work >= PARALLEL_GEMM && threads > 1;
    if parallel && cblas::matmul(&FAER, out, a, b, accumulate, alpha) {
        return;
    }
    // SAFETY: `out` holds exactly m * n elements (checked by the caller),
    // laid out row-major, and is borrowed mutably for the whole call.
    let out = unsafe { MatMut::from_raw_parts_mut(out.as_mut_ptr(), m, n, n as isize, 1) };
    if parallel {
        let par = Par::rayon(threads);
        parallel::install(|| T::faer_gemm(out, as_faer(a), as_faer(b), accumulate, alpha, par));
    } else {
        sequential(out, as_faer(a), as_faer(b), accumulate, alpha);
    }
}

/// Products from this size (multiply-adds) reach faer's x86 GEMM; smaller
/// ones run on nano-gemm (faer 0.24.4's `NANO_GEMM_THRESHOLD`).
#[cfg(target_arch = "x86_64")]
const FAER_X86_GEMM_MIN: usize = 16 * 16 * 16 + 1;

/// faer's product on the calling thread.
///
/// faer picks its x86 kernels by the CPU alone. Where `NEURUST_SIMD` forced
/// AVX2 on a CPU with AVX-512, products that faer would give its x86 GEMM go
/// to that GEMM's AVX2 kernels directly, so that a forced run times what a
/// CPU with AVX2 runs. (Smaller products and other forced levels keep
/// faer's choice: `build_info` names the faer kernels in use.)
fn sequential<T: Element>(
    out: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    #[cfg(target_arch = "x86_64")]
    if forced_avx2() && a.nrows() * a.ncols() * b.ncols() >= FAER_X86_GEMM_MIN {
        // SAFETY: the CPU has AVX2 and FMA (it has AVX-512).
        return unsafe { avx2_gemm(out, a, b, accumulate, alpha) };
    }
    T::faer_gemm(out, a, b, accumulate, alpha, Par::Seq);
}

/// The product on the AVX2 kernels of faer's x86 GEMM, on the calling thread.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
unsafe fn avx2_gemm<T: Element>(
    out: MatMut<'_, T>,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    accumulate: bool,
    alpha: T,
) {
    use private_gemm_x86 as x86;
    let dtype = if T::NAME == "float64" {
        x86::DType::F64
    } else {
        x86::DType::F32
    };
    let beta = if accumulate {
        x86::Accum::Add
    } else {
        x86::Accum::Replace
    };
    // SAFETY: the pointers and strides describe the three matrices (in
    // elements, as the GEMM expects), `out` overlaps neither operand
    // (it is borrowed mutably), `T` is float32 or float64 as `dtype`
    // says, no index arrays or diagonal are passed (`DstKind::Full`),
    // and the caller checked that the CPU has AVX2 and FMA.
    unsafe {
        x86::gemm(
            dtype,
            x86::IType::U64,
            x86::InstrSet::Avx256,
            out.nrows(),
            out.ncols(),
            a.ncols(),
            out.as_ptr_mut().cast(),
            out.row_stride(),
            out.col_stride(),
            std::ptr::null(),
            std::ptr::null(),
            x86::DstKind::Full,
            beta,
            a.as_ptr().cast(),
            a.row_stride(),
            a.col_stride(),
            false,
            std::ptr::null(),
            0,
            b.as_ptr().cast(),
            b.row_stride(),
            b.col_stride(),
            false,
            std::ptr::from_ref(&alpha).cast(),
            1,
        );
    }
}

/// Whether `NEURUST_SIMD` holds an AVX-512 CPU at AVX2 (one load each).
#[cfg(target_arch = "x86_64")]
#[inline]
fn forced_avx2() -> bool {
    Level::detect() == Level::Avx2Fma && Level::cpu() == Level::Avx512
}

/// The kernels faer's products run on at the level in use, as
/// `build_info` reports them.
///
/// faer exposes no query for it, so this restates faer 0.24.4's own rule
/// (`linalg::matmul`): products above 16³ multiply-adds run on
/// `private_gemm_x86` with AVX-512F, else with AVX2+FMA, else on the portable
/// `gemm` crate. Only products of exactly 16³ reach faer below that (smaller
/// ones stay in `gemm::SMALL_GEMM`'s plain loop) and run on nano-gemm.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    match Level::cpu() {
        _ if forced_avx2() => return "avx2+fma (forced)",
        Level::Avx512 => return "avx512",
        Level::Avx2Fma => return "avx2+fma",
        _ => {}
    }
    "scalar"
}

static FAER_ALIGNMENT: OnceLock<PanelAlignment> = OnceLock::new();

/// faer on one thread behind the CBLAS function type, for the panels.
static FAER: Cblas = Cblas {
    dgemm: faer_gemm::<f64>,
    sgemm: faer_gemm::<f32>,
    get_threads: blas::one_thread,
    set_threads: blas::no_threads_to_set,
    name: "faer",
    alignment: &FAER_ALIGNMENT,
};

/// The widths at which faer's products can be cut without changing their
/// bits (measured on first use, as OpenBLAS's are).
pub fn panel_alignment() -> PanelAlignment {
    blas::panel_alignment(&FAER)
}

/// A row-major CBLAS `?gemm` (64-bit integers) computed by faer on the
/// calling thread, for `beta` 0 or 1 (all `cblas::matmul` passes).
///
/// # Safety
/// As for CBLAS: the pointers and leading dimensions describe the matrices,
/// and `c` overlaps neither `a` nor `b`.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn faer_gemm<T: Element>(
    layout: c_int,
    trans_a: c_int,
    trans_b: c_int,
    m: i64,
    n: i64,
    k: i64,
    alpha: T,
    a: *const T,
    lda: i64,
    b: *const T,
    ldb: i64,
    beta: T,
    c: *mut T,
    ldc: i64,
) {
    debug_assert_eq!(layout, blas::ROW_MAJOR);
    debug_assert!(beta == T::ZERO || beta == T::ONE);
    let (m, n, k) = (m as usize, n as usize, k as usize);
    // (row stride, column stride) of the operand as the product uses it.
    let strides = |trans: c_int, ld: i64| {
        if trans == blas::TRANS {
            (1, ld as isize)
        } else {
            (ld as isize, 1)
        }
    };
    let ((a_rows, a_cols), (b_rows, b_cols)) = (strides(trans_a, lda), strides(trans_b, ldb));
    let a = MatRef::from_raw_parts(a, m, k, a_rows, a_cols);
    let b = MatRef::from_raw_parts(b, k, n, b_rows, b_cols);
    let out = MatMut::from_raw_parts_mut(c, m, n, ldc as isize, 1);
    sequential(out, a, b, beta != T::ZERO, alpha);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::tests::{filled, naive};

    /// The AVX2 kernels that a forced AVX2 level runs faer's products on
    /// match the definition, with a transposed operand and accumulating.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_of_faers_gemm_match_the_definition() {
        if Level::cpu() < Level::Avx2Fma {
            return;
        }
        for (m, k, n) in [(17, 33, 35), (128, 100, 100), (64, 64, 1), (1, 64, 64)] {
            let (a, b) = (filled(m * k, 5), filled(k * n, 6));
            let want = naive(&a, &b, m, k, n);
            let a_t: Vec<f64> = (0..m * k).map(|x| a[(x % m) * k + x / m]).collect();
            for (a_view, accumulate) in [
                (View::row_major(&a, m, k), false),
                (View::row_major(&a_t, k, m).t(), true),
            ] {
                let mut out = vec![0.5; m * n];
                // SAFETY: `out` is m × n row-major; the CPU has AVX2 and FMA.
                unsafe {
                    let out = MatMut::from_raw_parts_mut(out.as_mut_ptr(), m, n, n as isize, 1);
                    avx2_gemm(
                        out,
                        as_faer(a_view),
                        as_faer(View::row_major(&b, k, n)),
                        accumulate,
                        2.0,
                    );
                }
                let base = if accumulate { 0.5 } else { 0.0 };
                for (got, w) in out.iter().zip(&want) {
                    assert!(
                        (got - (base + 2.0 * w)).abs() < 1e-12 * k as f64,
                        "{m}x{k}x{n}"
                    );
                }
            }
        }
    }

    /// faer cut into panels at its measured alignment, on several threads,
    /// against one call on one thread: the same bits.
    fn panels_match_one_call<T: Element>(m: usize, k: usize, n: usize, transposed: bool) {
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        let (a, b) = (cast(filled(m * k, 3)), cast(filled(k * n, 4)));
        let a_view = if transposed {
            View::row_major(&a, k, m).t()
        } else {
            View::row_major(&a, m, k)
        };
        let b_view = View::row_major(&b, k, n);
        let mut whole = vec![T::ZERO; m * n];
        T::faer_gemm(
            // SAFETY: `whole` is m × n row-major and borrowed for the call.
            unsafe { MatMut::from_raw_parts_mut(whole.as_mut_ptr(), m, n, n as isize, 1) },
            as_faer(a_view),
            as_faer(b_view),
            false,
            T::ONE,
            Par::Seq,
        );
        let before = parallel::num_threads();
        parallel::set_num_threads(3);
        let mut cut = vec![T::ZERO; m * n];
        let took = cblas::matmul(&FAER, &mut cut, a_view, b_view, false, T::ONE);
        parallel::set_num_threads(before);
        assert!(took, "unit-stride operands go to the panels");
        assert!(
            whole == cut,
            "{m}x{k}x{n} {} transposed={transposed}",
            T::NAME
        );
    }

    #[test]
    fn panels_have_the_bits_of_one_call() {
        assert_ne!(panel_alignment(), PanelAlignment { rows: 0, cols: 0 });
        for &(m, k, n) in &[
            (128, 1000, 100),
            (1000, 128, 100),
            (301, 257, 999),
            (67, 1000, 33),
        ] {
            for transposed in [false, true] {
                panels_match_one_call::<f64>(m, k, n, transposed);
                panels_match_one_call::<f32>(m, k, n, transposed);
            }
        }
    }
}
