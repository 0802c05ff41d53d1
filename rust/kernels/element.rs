//! What the products need of `f32` and `f64` beyond arithmetic: faer, CBLAS and AVX dot lanes.
//!
//! Each method is the same operation spelled for one concrete type (a faer
//! call, a CBLAS entry point, AVX intrinsics), so the kernels above stay
//! generic; this module depends only on `float` and `blas`'s types.

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::blas::{Cblas, GemmFn};
use super::Float;

/// The dot product's lane count: 16 independent partial sums.
pub const LANES: usize = 16;

/// `f32` or `f64` with the type-specific entry points of the GEMM and the
/// dot product.
pub trait Element: Float {
    /// This type's `cblas_?gemm` in `lib`.
    fn cblas_gemm(lib: &Cblas) -> GemmFn<Self>;

    /// `out = alpha * a @ b (+ out if accumulate)`, through faer.
    fn faer_gemm(
        out: MatMut<'_, Self>,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        accumulate: bool,
        alpha: Self,
        par: Par,
    );

    /// The 16 lane sums of a dot product's whole 16-element blocks in 256-bit
    /// AVX registers: lane `j` adds the rounded products of elements `j`,
    /// `j + 16`, … in order, exactly as `dot`'s plain loop does, so the bits
    /// are the same. (Left to itself, the compiler keeps those lanes in
    /// 128-bit registers.)
    ///
    /// # Safety
    /// The CPU must support AVX; `b` must be at least as long as `a`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes_avx(a: &[Self], b: &[Self]) -> [Self; LANES];

    /// The lanes of `a0 · b` and `a1 · b`, reading `b` once.
    ///
    /// # Safety
    /// As `lanes_avx`, and `a1` as long as `a0`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes2_avx(a0: &[Self], a1: &[Self], b: &[Self]) -> [[Self; LANES]; 2];

    /// [`lanes_avx`](Element::lanes_avx) in 512-bit registers: each lane
    /// adds the same rounded products in the same order, so the bits are
    /// the same, in half the instructions.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `b` must be at least as long as `a`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes_avx512(a: &[Self], b: &[Self]) -> [Self; LANES];

    /// [`lanes2_avx`](Element::lanes2_avx) in 512-bit registers.
    ///
    /// # Safety
    /// As `lanes_avx512`, and `a1` as long as `a0`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn lanes2_avx512(a0: &[Self], a1: &[Self], b: &[Self]) -> [[Self; LANES]; 2];
}

// The AVX types and intrinsics named below appear only inside the x86-64
// methods, so other targets never resolve them.
macro_rules! dot_lanes {
    (
        $t:ty,
        $feature:literal,
        $one:ident,
        $two:ident,
        ($vec:ty, $width:literal, $zero:ident, $load:ident, $mul:ident, $add:ident, $store:ident)
    ) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        #[inline]
        unsafe fn $one(a: &[$t], b: &[$t]) -> [$t; LANES] {
            use std::arch::x86_64::*;
            const VECTORS: usize = LANES / $width;
            assert!(b.len() >= a.len());
            let mut acc: [$vec; VECTORS] = [$zero(); VECTORS];
            for block in 0..a.len() / LANES {
                let (pa, pb) = (a.as_ptr().add(block * LANES), b.as_ptr().add(block * LANES));
                for (v, acc) in acc.iter_mut().enumerate() {
                    let product = $mul($load(pa.add(v * $width)), $load(pb.add(v * $width)));
                    *acc = $add(*acc, product);
                }
            }
            let mut lanes = [0.0; LANES];
            for (v, acc) in acc.iter().enumerate() {
                $store(lanes.as_mut_ptr().add(v * $width), *acc);
            }
            lanes
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        #[inline]
        unsafe fn $two(a0: &[$t], a1: &[$t], b: &[$t]) -> [[$t; LANES]; 2] {
            use std::arch::x86_64::*;
            const VECTORS: usize = LANES / $width;
            assert!(b.len() >= a0.len() && a1.len() >= a0.len());
            let mut acc0: [$vec; VECTORS] = [$zero(); VECTORS];
            let mut acc1: [$vec; VECTORS] = [$zero(); VECTORS];
            for block in 0..a0.len() / LANES {
                let offset = block * LANES;
                let (p0, p1, pb) = (
                    a0.as_ptr().add(offset),
                    a1.as_ptr().add(offset),
                    b.as_ptr().add(offset),
                );
                for v in 0..VECTORS {
                    let y = $load(pb.add(v * $width));
                    acc0[v] = $add(acc0[v], $mul($load(p0.add(v * $width)), y));
                    acc1[v] = $add(acc1[v], $mul($load(p1.add(v * $width)), y));
                }
            }
            let mut lanes = [[0.0; LANES]; 2];
            for v in 0..VECTORS {
                $store(lanes[0].as_mut_ptr().add(v * $width), acc0[v]);
                $store(lanes[1].as_mut_ptr().add(v * $width), acc1[v]);
            }
            lanes
        }
    };
}

macro_rules! impl_element {
    ($t:ty, $cblas:ident, $avx:tt, $avx512:tt) => {
        impl Element for $t {
            fn cblas_gemm(lib: &Cblas) -> GemmFn<Self> {
                lib.$cblas
            }

            fn faer_gemm(
                out: MatMut<'_, Self>,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                accumulate: bool,
                alpha: Self,
                par: Par,
            ) {
                let accum = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                faer_matmul(out, accum, a, b, alpha, par);
            }

            dot_lanes!($t, "avx", lanes_avx, lanes2_avx, $avx);
            dot_lanes!($t, "avx512f", lanes_avx512, lanes2_avx512, $avx512);
        }
    };
}

impl_element!(
    f64,
    dgemm,
    (
        std::arch::x86_64::__m256d,
        4,
        _mm256_setzero_pd,
        _mm256_loadu_pd,
        _mm256_mul_pd,
        _mm256_add_pd,
        _mm256_storeu_pd
    ),
    (
        std::arch::x86_64::__m512d,
        8,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_mul_pd,
        _mm512_add_pd,
        _mm512_storeu_pd
    )
);
impl_element!(
    f32,
    sgemm,
    (
        std::arch::x86_64::__m256,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        _mm256_storeu_ps
    ),
    (
        std::arch::x86_64::__m512,
        16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_mul_ps,
        _mm512_add_ps,
        _mm512_storeu_ps
    )
);
