//! Applying an activation to a slice: the elementwise loops, compiled for the
//! widest instruction set worth it, and the split of large slices over threads.

use std::sync::Mutex;

use super::parallel::{self, CHUNK};
use super::{heaviside, relu, relu_grad, sigmoid, sigmoid_grad, Activation};
use crate::kernels::simd::{self, Level};
use crate::kernels::Float;

#[inline(always)]
pub(super) fn map_body<T: Float>(x: &[T], out: &mut [T], f: impl Fn(T) -> T) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

#[inline(always)]
fn map_inplace_body<T: Float>(xs: &mut [T], f: impl Fn(T) -> T) {
    for v in xs.iter_mut() {
        *v = f(*v);
    }
}

#[inline(always)]
pub(super) fn zip_body<T: Float>(x: &[T], grad: &[T], out: &mut [T], f: impl Fn(T, T) -> T) {
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(grad) {
        *o = f(v, g);
    }
}

impl Activation {
    /// The widest code worth compiling it for: the sigmoid's polynomial uses
    /// fused multiply-adds, which vectorise with FMA and are each a (slow,
    /// exact) library call without; the others gain from AVX's wider
    /// registers alone. At AVX2 and AVX-512 alike the compiler's copy of the
    /// float32 sigmoid runs as wide as the registers with no intrinsics:
    /// measured by `benches/test_activations.py` (`test_sigmoid_float32`)
    /// with and without `NEURUST_SIMD=avx2`; figures in docs/performance.md.
    fn simd_level(self) -> Level {
        match self {
            Activation::Sigmoid => Level::Avx512,
            Activation::Relu | Activation::Step => Level::Avx,
        }
    }
}

pub(super) fn map_serial<T: Float>(x: &[T], out: &mut [T], act: Activation) {
    simd::dispatch(
        act.simd_level(),
        #[inline(always)]
        move |_| match act {
            Activation::Relu => map_body(x, out, relu),
            Activation::Sigmoid => map_body(x, out, sigmoid),
            Activation::Step => map_body(x, out, heaviside),
        },
    )
}

fn map_inplace_serial<T: Float>(xs: &mut [T], act: Activation) {
    simd::dispatch(
        act.simd_level(),
        #[inline(always)]
        move |_| match act {
            Activation::Relu => map_inplace_body(xs, relu),
            Activation::Sigmoid => map_inplace_body(xs, sigmoid),
            Activation::Step => map_inplace_body(xs, heaviside),
        },
    )
}

fn zip_serial<T: Float>(x: &[T], grad: &[T], out: &mut [T], act: Activation) {
    simd::dispatch(
        act.simd_level(),
        #[inline(always)]
        move |_| match act {
            Activation::Relu => zip_body(x, grad, out, relu_grad),
            Activation::Sigmoid => zip_body(x, grad, out, sigmoid_grad),
            Activation::Step => zip_body(x, grad, out, |_, _| T::ZERO),
        },
    )
}

/// Runs `work` on every part, self-scheduled over the pool
/// ([`parallel::for_each_index`]): the calling thread starts at once and
/// takes every part a pool thread has not woken in time to take, so a
/// split never waits on a sleeping or busy core. (Handing each thread one
/// half with [`parallel::for_each_part`] made 64k float32 sigmoids slower
/// on two threads than on one while the other core was busy: `neurust
/// compare --workloads sigmoid --sizes 64k --dtype float32 --threads 1,2`.)
fn for_each_chunk<P: Send>(parts: impl Iterator<Item = P>, work: impl Fn(P) + Sync) {
    let parts: Vec<Mutex<Option<P>>> = parts.map(|part| Mutex::new(Some(part))).collect();
    parallel::for_each_index(parts.len(), |index| {
        let part = parts[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(part) = part {
            work(part);
        }
    });
}

// Elementwise results do not depend on how the slice is cut.

/// `out[i] = act(x[i])`.
///
/// # Panics
/// If the slices differ in length (callers validate first).
pub fn activate<T: Float>(act: Activation, x: &[T], out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "activate: lengths differ");
    if !parallel::worth_parallel_from(x.len(), act.parallel_min()) {
        return map_serial(x, out, act);
    }
    for_each_chunk(x.chunks(CHUNK).zip(out.chunks_mut(CHUNK)), |(x, out)| {
        map_serial(x, out, act)
    });
}

/// `xs[i] = act(xs[i])`.
pub fn activate_inplace<T: Float>(act: Activation, xs: &mut [T]) {
    if !parallel::worth_parallel_from(xs.len(), act.parallel_min()) {
        return map_inplace_serial(xs, act);
    }
    for_each_chunk(xs.chunks_mut(CHUNK), |xs| map_inplace_serial(xs, act));
}

/// `out[i] = grad[i] * act'(x[i])`.
///
/// # Panics
/// If the slices differ in length (callers validate first).
pub fn activate_grad<T: Float>(act: Activation, x: &[T], grad: &[T], out: &mut [T]) {
    assert!(
        x.len() == grad.len() && x.len() == out.len(),
        "activate_grad: lengths differ"
    );
    if !parallel::worth_parallel_from(x.len(), act.parallel_min()) {
        return zip_serial(x, grad, out, act);
    }
    let parts = x
        .chunks(CHUNK)
        .zip(grad.chunks(CHUNK))
        .zip(out.chunks_mut(CHUNK));
    for_each_chunk(parts, |((x, grad), out)| zip_serial(x, grad, out, act));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_zeroes_negatives_and_negative_zero_and_keeps_nan() {
        let x = [
            -2.0,
            -0.0,
            0.0,
            3.5,
            f64::NAN,
            f64::NEG_INFINITY,
            f64::INFINITY,
        ];
        let mut out = [1.0; 7];
        activate(Activation::Relu, &x, &mut out);
        assert_eq!(out[0], 0.0);
        assert!(out[1] == 0.0 && out[1].is_sign_positive());
        assert_eq!(&out[2..4], &[0.0, 3.5]);
        assert!(out[4].is_nan());
        assert_eq!(&out[5..], &[0.0, f64::INFINITY]);
    }

    #[test]
    fn relu_grad_passes_gradient_only_where_input_positive() {
        let x = [-1.0_f32, 0.0, 2.0, f32::NAN];
        let g = [5.0, 6.0, 7.0, 8.0];
        let mut out = [0.0; 4];
        activate_grad(Activation::Relu, &x, &g, &mut out);
        assert_eq!(out, [0.0, 0.0, 7.0, 0.0]);
    }

    #[test]
    fn step_fires_only_above_zero() {
        let x = [-1.0, 0.0, 1e-300, 5.0, f64::NAN];
        let mut out = [9.0; 5];
        activate(Activation::Step, &x, &mut out);
        assert_eq!(&out[..4], &[0.0, 0.0, 1.0, 1.0]);
        assert!(out[4].is_nan());
    }

    #[test]
    fn in_place_matches_out_of_place_for_large_inputs() {
        let n = parallel::ELEMENTWISE_PARALLEL_MIN + 1001;
        let x: Vec<f64> = (0..n).map(|i| (i as f64 - 5e5) / 7.0).collect();
        for act in [Activation::Relu, Activation::Sigmoid, Activation::Step] {
            let mut out = vec![0.0; x.len()];
            activate(act, &x, &mut out);
            let mut inplace = x.clone();
            activate_inplace(act, &mut inplace);
            assert_eq!(out, inplace, "{}", act.name());
            for (o, &v) in out.iter().zip(&x).step_by(997) {
                assert_eq!(o.to_bits(), act.value(v).to_bits());
            }
        }
    }
}
