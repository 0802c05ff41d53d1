//! Fuzzes the pure-Rust kernels (dot, activation, gemm) with arbitrary bit patterns.
//!
//! Run by hand: `cargo +nightly fuzz run kernels` from the repository root (see README,
//! "Reliability"). Each input picks a kernel, a dtype, lengths (some past the threading
//! cut-offs) and values (raw bit patterns, so NaN payloads, infinities, subnormals and
//! huge magnitudes all occur), then checks that the kernel
//!
//! - does not panic on valid lengths (the bindings validate before calling);
//! - agrees with a plain reference: elementwise results bit for bit with the scalar
//!   function, sums within the rounding any summation order allows, NaN wherever a term
//!   is NaN, the infinity of an infinite term where nothing else can overflow;
//! - gives the same bits in place as out of place, and with 1 thread as with 3.

#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use neurust::kernels::activation::{self, Activation};
use neurust::kernels::dot::{weighted_sum, weighted_sum_rows};
use neurust::kernels::gemm::{self, View};
use neurust::kernels::linear;
use neurust::kernels::parallel::{self, CHUNK, ELEMENTWISE_PARALLEL_MIN};

/// What the checks need to know of `f32` and `f64` beyond the kernels' `Element`.
trait Element: neurust::kernels::Element {
    const EPSILON: f64;
    const MAX: f64;
    const SMALLEST_SUBNORMAL: f64;
    fn from_raw(bits: u64) -> Self;
    fn bits(self) -> u64;
}

impl Element for f32 {
    const EPSILON: f64 = f32::EPSILON as f64;
    const MAX: f64 = f32::MAX as f64;
    const SMALLEST_SUBNORMAL: f64 = f32::from_bits(1) as f64;
    fn from_raw(bits: u64) -> Self {
        f32::from_bits(bits as u32)
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Element for f64 {
    const EPSILON: f64 = f64::EPSILON;
    const MAX: f64 = f64::MAX;
    const SMALLEST_SUBNORMAL: f64 = f64::from_bits(1);
    fn from_raw(bits: u64) -> Self {
        f64::from_bits(bits)
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

const SPECIALS: [f64; 12] = [
    0.0,
    -0.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    -f64::MAX,
    f64::MIN_POSITIVE,
    f64::from_bits(1),
    -745.0,
    1e30,
    -1e30,
];

/// One value: a raw bit pattern, a small ordinary number or a special value.
fn value<T: Element>(u: &mut Unstructured<'_>) -> Result<T> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => T::from_raw(u64::arbitrary(u)?),
        3..=7 => T::from_f64(f64::from(i8::arbitrary(u)?) / 8.0),
        _ => T::from_f64(SPECIALS[usize::from(u.int_in_range(0u8..=11)?)]),
    })
}

/// `len` values: as many as the input holds, then repeated, so long slices cost few bytes.
fn values<T: Element>(u: &mut Unstructured<'_>, len: usize) -> Result<Vec<T>> {
    let drawn = u.int_in_range(1usize..=64)?.min(len.max(1));
    let mut seed = Vec::with_capacity(drawn);
    for _ in 0..drawn {
        seed.push(value::<T>(u)?);
    }
    Ok((0..len).map(|i| seed[i % seed.len()]).collect())
}

/// A length: usually small, sometimes just around the chunk and threading cut-offs.
fn length(u: &mut Unstructured<'_>, small_max: usize) -> Result<usize> {
    Ok(if u.ratio(1u8, 16u8)? {
        *u.choose(&[
            CHUNK - 1,
            CHUNK + 1,
            ELEMENTWISE_PARALLEL_MIN + 3,
            3 * CHUNK + 17,
        ])?
    } else {
        u.int_in_range(0..=small_max)?
    })
}

/// The product of two values in f64, and whether it overflowed from finite operands
/// (possible for f64 inputs only): such a term's sign and size depend on rounding.
fn term<T: Element>(a: T, b: T) -> (f64, bool) {
    let (a, b) = (a.to_f64(), b.to_f64());
    let product = a * b;
    (
        product,
        product.is_infinite() && a.is_finite() && b.is_finite(),
    )
}

/// `Σ terms` checked against `got`, allowing any summation order's rounding.
fn check_sum<T: Element>(got: T, terms: &[(f64, bool)], what: &str) {
    let got = got.to_f64();
    let overflowed = terms.iter().any(|&(_, overflow)| overflow);
    let terms: Vec<f64> = terms.iter().map(|&(t, _)| t).collect();
    let nan_term = terms.iter().any(|t| t.is_nan());
    if nan_term {
        assert!(
            got.is_nan(),
            "{what}: a NaN term must give NaN, got {got} for {terms:?}"
        );
        return;
    }
    if overflowed {
        return; // a product too large for f64: the exact value is order-dependent
    }
    let pos_inf = terms.contains(&f64::INFINITY);
    let neg_inf = terms.contains(&f64::NEG_INFINITY);
    if pos_inf && neg_inf {
        assert!(
            got.is_nan(),
            "{what}: opposite infinities must give NaN, got {got} for terms {terms:?}"
        );
        return;
    }
    let finite: Vec<f64> = terms.iter().copied().filter(|t| t.is_finite()).collect();
    let magnitude: f64 = finite.iter().map(|t| t.abs()).sum();
    // (finite terms only, so never NaN)
    if magnitude > T::MAX / 2.0 {
        return; // some order of summation may overflow: the exact value is order-dependent
    }
    if pos_inf || neg_inf {
        let inf = if pos_inf {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        assert_eq!(got, inf, "{what}: an infinite term must give that infinity");
        return;
    }
    // Neumaier's compensated sum: exact enough to judge the kernel's rounding.
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for &t in &finite {
        let next = sum + t;
        compensation += if sum.abs() >= t.abs() {
            (sum - next) + t
        } else {
            (t - next) + sum
        };
        sum = next;
    }
    let exact = sum + compensation;
    let n = terms.len() as f64;
    let tolerance = 2.0 * (n + 2.0) * T::EPSILON * magnitude + (n + 1.0) * T::SMALLEST_SUBNORMAL;
    assert!(
        (got - exact).abs() <= tolerance,
        "{what}: got {got}, expected {exact} ± {tolerance} ({} terms)",
        terms.len()
    );
}

/// Runs `work` with 1 thread and with 3; both must give the same bits.
fn thread_count_independent<R: PartialEq + std::fmt::Debug>(what: &str, work: impl Fn() -> R) {
    let before = parallel::num_threads();
    parallel::set_num_threads(1);
    let one = work();
    parallel::set_num_threads(3);
    let three = work();
    parallel::set_num_threads(before);
    assert_eq!(one, three, "{what}: the result depends on the thread count");
}

fn bits<T: Element>(values: &[T]) -> Vec<u64> {
    values.iter().map(|v| v.bits()).collect()
}

fn fuzz_weighted_sum<T: Element>(u: &mut Unstructured<'_>) -> Result<()> {
    let n = length(u, 80)?;
    let (a, b) = (values::<T>(u, n)?, values::<T>(u, n)?);
    let got = weighted_sum(&a, &b);
    let terms: Vec<(f64, bool)> = a.iter().zip(&b).map(|(&x, &y)| term(x, y)).collect();
    check_sum(got, &terms, "weighted_sum");
    if n >= CHUNK {
        thread_count_independent("weighted_sum", || weighted_sum(&a, &b).bits());
    }
    Ok(())
}

fn fuzz_weighted_sum_rows<T: Element>(u: &mut Unstructured<'_>) -> Result<()> {
    let rows = u.int_in_range(0usize..=6)?;
    let cols = length(u, 40)?;
    let (matrix, weights) = (values::<T>(u, rows * cols)?, values::<T>(u, cols)?);
    let mut out = vec![T::from_f64(7.0); rows];
    weighted_sum_rows(&matrix, &weights, &mut out);
    for (r, &got) in out.iter().enumerate() {
        let row = &matrix[r * cols..(r + 1) * cols];
        let terms: Vec<(f64, bool)> = row
            .iter()
            .zip(&weights)
            .map(|(&x, &y)| term(x, y))
            .collect();
        check_sum(got, &terms, "weighted_sum_rows");
    }
    if rows * cols >= ELEMENTWISE_PARALLEL_MIN {
        thread_count_independent("weighted_sum_rows", || {
            let mut again = vec![T::ZERO; rows];
            weighted_sum_rows(&matrix, &weights, &mut again);
            bits(&again)
        });
    }
    Ok(())
}

fn activation(u: &mut Unstructured<'_>) -> Result<Activation> {
    Ok(*u.choose(&[Activation::Relu, Activation::Sigmoid, Activation::Step])?)
}

fn fuzz_activate<T: Element>(u: &mut Unstructured<'_>) -> Result<()> {
    let act = activation(u)?;
    let n = length(u, 200)?;
    let x = values::<T>(u, n)?;
    let mut out = vec![T::from_f64(7.0); n];
    activation::activate(act, &x, &mut out);
    let mut in_place = x.clone();
    activation::activate_inplace(act, &mut in_place);
    assert_eq!(
        bits(&out),
        bits(&in_place),
        "{}: in place differs",
        act.name()
    );
    for (&v, &o) in x.iter().zip(&out) {
        assert_eq!(o.bits(), act.value(v).bits(), "{}({v:?})", act.name());
        if act == Activation::Sigmoid && !v.is_nan() {
            let s = o.to_f64();
            assert!((0.0..=1.0).contains(&s), "sigmoid({v:?}) = {s}");
        }
    }
    if n >= ELEMENTWISE_PARALLEL_MIN {
        thread_count_independent(act.name(), || {
            let mut again = vec![T::ZERO; n];
            activation::activate(act, &x, &mut again);
            bits(&again)
        });
    }
    Ok(())
}

fn fuzz_activate_grad<T: Element>(u: &mut Unstructured<'_>) -> Result<()> {
    let act = activation(u)?;
    let n = length(u, 200)?;
    let (x, grad) = (values::<T>(u, n)?, values::<T>(u, n)?);
    let mut out = vec![T::from_f64(7.0); n];
    activation::activate_grad(act, &x, &grad, &mut out);
    for ((&v, &g), &o) in x.iter().zip(&grad).zip(&out) {
        assert_eq!(
            o.bits(),
            act.grad(v, g).bits(),
            "{} grad at {v:?}, {g:?}",
            act.name()
        );
        if act == Activation::Sigmoid && g.is_finite() && !v.is_nan() {
            assert!(o.is_finite(), "sigmoid_grad({v:?}, {g:?}) = {o:?}");
        }
    }
    if n >= ELEMENTWISE_PARALLEL_MIN {
        thread_count_independent("activate_grad", || {
            let mut again = vec![T::ZERO; n];
            activation::activate_grad(act, &x, &grad, &mut again);
            bits(&again)
        });
    }
    Ok(())
}

/// `linear`, and `matmul` on transposed views (as the network's backward pass uses it).
fn fuzz_gemm<T: Element>(u: &mut Unstructured<'_>) -> Result<()> {
    // Up to 80³ multiply-adds: past the plain-loop cut-off (4096) and the threading one.
    let rows = u.int_in_range(0usize..=80)?;
    let inner = u.int_in_range(0usize..=80)?;
    let cols = u.int_in_range(0usize..=80)?;
    let x = values::<T>(u, rows * inner)?;
    let weights = values::<T>(u, inner * cols)?;
    let bias = if bool::arbitrary(u)? {
        Some(values::<T>(u, cols)?)
    } else {
        None
    };
    let transposed = bool::arbitrary(u)?;
    let mut out = vec![T::from_f64(f64::NAN); rows * cols]; // must be overwritten, not read
    if transposed {
        // out = (xᵀ)ᵀ @ (weightsᵀ)ᵀ through the transposed-view code path
        let xt: Vec<T> = (0..inner * rows)
            .map(|i| x[(i % rows) * inner + i / rows])
            .collect();
        let wt: Vec<T> = (0..cols * inner)
            .map(|i| weights[(i % inner) * cols + i / inner])
            .collect();
        let a = View::row_major(&xt, inner, rows).t();
        let b = View::row_major(&wt, cols, inner).t();
        gemm::matmul(&mut out, a, b, false, T::ONE);
        if let Some(bias) = &bias {
            linear::add_row_vector(&mut out, bias);
        }
    } else {
        linear::linear(&x, &weights, bias.as_deref(), rows, inner, cols, &mut out);
    }
    if std::env::var_os("NEURUST_FUZZ_DEBUG").is_some() {
        eprintln!("gemm {rows}x{inner} @ {inner}x{cols}, transposed {transposed}");
        eprintln!("x = {x:?}\nweights = {weights:?}\nbias = {bias:?}\nout = {out:?}");
    }
    for i in 0..rows {
        for j in 0..cols {
            let mut terms: Vec<(f64, bool)> = (0..inner)
                .map(|k| term(x[i * inner + k], weights[k * cols + j]))
                .collect();
            if let Some(bias) = &bias {
                terms.push((bias[j].to_f64(), false));
            }
            check_sum(out[i * cols + j], &terms, "linear");
        }
    }
    if rows * inner * cols >= gemm::PARALLEL_GEMM {
        thread_count_independent("linear", || {
            let mut again = vec![T::ZERO; rows * cols];
            linear::linear(&x, &weights, bias.as_deref(), rows, inner, cols, &mut again);
            bits(&again)
        });
    }
    Ok(())
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let double = bool::arbitrary(&mut u)?;
    macro_rules! dispatch {
        ($kernel:ident) => {
            if double {
                $kernel::<f64>(&mut u)
            } else {
                $kernel::<f32>(&mut u)
            }
        };
    }
    match u.int_in_range(0u8..=4)? {
        0 => dispatch!(fuzz_weighted_sum),
        1 => dispatch!(fuzz_weighted_sum_rows),
        2 => dispatch!(fuzz_activate),
        3 => dispatch!(fuzz_activate_grad),
        _ => dispatch!(fuzz_gemm),
    }
}

fuzz_target!(|data: &[u8]| {
    // Running out of input bytes is not a finding; every other failure panics.
    let _ = run(data);
});
