//! The hidden and output activations of scikit-learn's MLP, applied in place, their derivatives, and the passes that fuse them with a product.

use super::real::{pairwise_sum, Real};
use crate::kernels::activation::{activate_inplace, Activation};
use crate::kernels::gemm::{matmul, matmul_then, Epilogue, View};
use crate::kernels::linear::add_row_vector;
use crate::kernels::simd::Level;
use crate::kernels::Float;

/// The activation of every hidden layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hidden {
    Identity,
    Logistic,
    Tanh,
    Relu,
    /// neurust's own activation (the two-layer net's): applied from a kept
    /// pre-activation, and differentiated at it with `activate_grad`.
    Neuron(Activation),
}

/// The activation of the output layer (`out_activation_`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Identity,
    Logistic,
    Softmax,
    /// The Poisson loss's inverse link.
    Exp,
}

/// scipy's `expit`: `1 / (1 + exp(-x))` in the element type.
#[inline(always)]
fn logistic<T: Real>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

/// numpy's `maximum(x, 0)`: keeps NaN and -0.0.
#[inline(always)]
fn relu<T: Float>(x: T) -> T {
    if x >= T::ZERO || x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

/// `v = f(v + b)` for each element `v` of each row and its intercept `b`.
#[inline(always)]
fn add_then<T: Real>(values: &mut [T], intercepts: &[T], f: impl Fn(T) -> T) {
    for row in values.chunks_exact_mut(intercepts.len()) {
        for (v, &b) in row.iter_mut().zip(intercepts) {
            *v = f(*v + b);
        }
    }
}

/// The hidden activations that the register tiles apply as they store a
/// layer's product (`matmul_then`), with the functions of the pass they
/// replace: `identity` and `relu`, an add and a compare an element. The
/// logistic and tanh, a library call an element, stay in the pass, which
/// costs little beside them.
struct AddOnly;

impl Epilogue for AddOnly {
    #[inline(always)]
    fn apply<T: Float>(x: T) -> T {
        x
    }
}

struct AddThenRelu;

impl Epilogue for AddThenRelu {
    #[inline(always)]
    fn apply<T: Float>(x: T) -> T {
        relu(x)
    }
}

/// `delta` times the logistic's derivative, from its output `z`.
#[inline(always)]
fn logistic_derivative<T: Real>(z: T, delta: T) -> T {
    delta * z * (T::ONE - z)
}

#[inline(always)]
fn tanh_derivative<T: Real>(z: T, delta: T) -> T {
    delta * (T::ONE - z * z)
}

/// A select, not a branch: about half the units are off, in no pattern a
/// branch predictor can learn (the branch's cost:
/// `benches/network_per_batch.py`, docs/performance.md).
#[inline(always)]
fn relu_derivative<T: Real>(z: T, delta: T) -> T {
    let off = z == T::ZERO;
    if off {
        T::ZERO
    } else {
        delta
    }
}

/// `d = derivative(z, d)` for each element `d` of `delta` and its `z`.
#[inline(always)]
fn scale_each<T: Real>(z: &[T], delta: &mut [T], derivative: impl Fn(T, T) -> T) {
    for (d, &z) in delta.iter_mut().zip(z) {
        *d = derivative(z, *d);
    }
}

/// What a one-output layer's backward pass reads: the hidden layer's
/// output `z` (`rows × units`), the output delta (`rows`) and the
/// coefficients (`units`).
pub struct OnePass<'a, T> {
    pub z: &'a [T],
    pub delta: &'a [T],
    pub coef: &'a [T],
}

impl<T: Real> OnePass<'_, T> {
    /// [`Hidden::one_output_pass`] with the derivative `derivative`, over
    /// zeroed `coef_grad` and `sums`: a block of units at a time down all
    /// the rows, so that the block's sums stay in registers (row by row,
    /// every sum went through memory for each row). Each sum still runs
    /// over the rows in order, so a block needs several registers of sums
    /// to cover the latency of its chain: 32 units at AVX-512, 16 at AVX2
    /// (four registers of float64 each: eight would spill)
    /// (`benches/network_per_batch.py`, docs/performance.md).
    #[inline(always)]
    fn run(
        &self,
        below: &mut [T],
        coef_grad: &mut [T],
        sums: Option<&mut [T]>,
        derivative: impl Fn(T, T) -> T + Copy,
    ) {
        if Level::detect() >= Level::Avx512 {
            self.blocks::<32>(below, coef_grad, sums, derivative);
        } else {
            self.blocks::<16>(below, coef_grad, sums, derivative);
        }
    }

    /// [`OnePass::run`] with blocks of `W` units.
    #[inline(always)]
    fn blocks<const W: usize>(
        &self,
        below: &mut [T],
        coef_grad: &mut [T],
        mut sums: Option<&mut [T]>,
        derivative: impl Fn(T, T) -> T + Copy,
    ) {
        let units = self.coef.len();
        let mut start = 0;
        while start < units {
            let width = W.min(units - start);
            let mut put = |grads: &[T], block_sums: &[T]| {
                coef_grad[start..start + width].copy_from_slice(&grads[..width]);
                if let Some(sums) = sums.as_deref_mut() {
                    sums[start..start + width].copy_from_slice(&block_sums[..width]);
                }
            };
            if width == W {
                let (grads, block_sums) = self.block::<W>(start, below, derivative);
                put(&grads, &block_sums);
            } else {
                let (grads, block_sums) = self.narrow_block(start, width, below, derivative);
                put(&grads, &block_sums);
            }
            start += width;
        }
    }

    /// Units `start..start + W` down all the rows: their weight gradients
    /// and the sums of their deltas.
    #[inline(always)]
    fn block<const W: usize>(
        &self,
        start: usize,
        below: &mut [T],
        derivative: impl Fn(T, T) -> T,
    ) -> ([T; W], [T; W]) {
        let units = self.coef.len();
        let mut grads = [T::ZERO; W];
        let mut sums = [T::ZERO; W];
        let mut coef = [T::ZERO; W];
        coef.copy_from_slice(&self.coef[start..start + W]);
        for (i, &d) in self.delta.iter().enumerate() {
            let at = i * units + start;
            let z = &self.z[at..at + W];
            let out = &mut below[at..at + W];
            for c in 0..W {
                grads[c] = d.mul_add(z[c], grads[c]);
                let o = derivative(z[c], d.mul_add(coef[c], T::ZERO));
                out[c] = o;
                sums[c] += o;
            }
        }
        (grads, sums)
    }

    /// [`OnePass::block`] for the fewer than 32 units left.
    #[inline(always)]
    fn narrow_block(
        &self,
        start: usize,
        width: usize,
        below: &mut [T],
        derivative: impl Fn(T, T) -> T,
    ) -> ([T; 32], [T; 32]) {
        let units = self.coef.len();
        let mut grads = [T::ZERO; 32];
        let mut sums = [T::ZERO; 32];
        let coef = &self.coef[start..start + width];
        for (i, &d) in self.delta.iter().enumerate() {
            let at = i * units + start;
            let z = &self.z[at..at + width];
            let out = &mut below[at..at + width];
            let each = out
                .iter_mut()
                .zip(z)
                .zip(coef)
                .zip(&mut grads)
                .zip(&mut sums);
            for ((((o, &z), &w), g), s) in each {
                *g = d.mul_add(z, *g);
                *o = derivative(z, d.mul_add(w, T::ZERO));
                *s += *o;
            }
        }
        (grads, sums)
    }
}

impl Hidden {
    pub fn name(self) -> &'static str {
        match self {
            Hidden::Identity => "identity",
            Hidden::Logistic => "logistic",
            Hidden::Tanh => "tanh",
            Hidden::Relu => "relu",
            Hidden::Neuron(activation) => activation.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Hidden::Identity,
            Hidden::Logistic,
            Hidden::Tanh,
            Hidden::Relu,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Whether the passes keep the pre-activations, which its derivative reads.
    pub fn reads_pre_activation(self) -> bool {
        matches!(self, Hidden::Neuron(_))
    }

    /// Applies the activation to every element.
    #[inline(always)]
    pub fn apply<T: Real>(self, values: &mut [T]) {
        match self {
            Hidden::Identity => {}
            Hidden::Logistic => values.iter_mut().for_each(|v| *v = logistic(*v)),
            Hidden::Tanh => values.iter_mut().for_each(|v| *v = v.tanh()),
            Hidden::Relu => values.iter_mut().for_each(|v| *v = relu(*v)),
            Hidden::Neuron(activation) => activate_inplace(activation, values),
        }
    }

    /// Adds `intercepts` to every row of the row-major `values`, then
    /// applies the activation: the same bits as the two passes, in one.
    #[inline(always)]
    pub fn apply_after_adding<T: Real>(self, values: &mut [T], intercepts: &[T]) {
        if intercepts.is_empty() {
            // A layout without intercepts: the activation alone.
            return self.apply(values);
        }
        match self {
            Hidden::Identity => add_then(values, intercepts, |v| v),
            Hidden::Logistic => add_then(values, intercepts, logistic),
            Hidden::Tanh => add_then(values, intercepts, |v| v.tanh()),
            Hidden::Relu => add_then(values, intercepts, relu),
            Hidden::Neuron(activation) => {
                add_row_vector(values, intercepts);
                activate_inplace(activation, values);
            }
        }
    }

    /// `out = a @ b`, then [`Hidden::apply_after_adding`] where the register
    /// tiles do it as they store the product (one trip through `out`
    /// instead of two; the same bits): returns whether they did, else the
    /// pass is the caller's to run.
    #[inline(always)]
    pub fn product_then<T: Real>(
        self,
        out: &mut [T],
        a: View<'_, T>,
        b: View<'_, T>,
        intercepts: &[T],
    ) -> bool {
        match self {
            _ if intercepts.len() != b.cols() => {}
            Hidden::Identity => return matmul_then::<T, AddOnly>(out, a, b, intercepts),
            Hidden::Relu => return matmul_then::<T, AddThenRelu>(out, a, b, intercepts),
            _ => {}
        }
        matmul(out, a, b, false, T::ONE);
        false
    }

    /// Multiplies `delta` by the derivative, written in terms of the
    /// activation's output `z` as scikit-learn does.
    #[inline(always)]
    pub fn derivative<T: Real>(self, z: &[T], delta: &mut [T]) {
        assert_eq!(z.len(), delta.len(), "network: derivative shape");
        match self {
            Hidden::Identity => {}
            Hidden::Logistic => scale_each(z, delta, logistic_derivative),
            Hidden::Tanh => scale_each(z, delta, tanh_derivative),
            Hidden::Relu => scale_each(z, delta, relu_derivative),
            // Differentiated at the pre-activation by the passes instead.
            Hidden::Neuron(_) => unreachable!("network: a neuron's derivative reads its input"),
        }
    }

    /// The backward pass through a one-output layer above a hidden one, in
    /// one pass over the rows: `below[i, j] = delta[i] · coef[j]` times the
    /// derivative at `z[i, j]`, and `coef_grad[j] = Σᵢ z[i, j] · delta[i]`.
    /// With `sums`, also adds up the rows of `below` into it, row by row
    /// from zero (`np.sum(below, axis=0)` for more than one column).
    ///
    /// Each product is a fused multiply-add, onto zero for `below` and in
    /// order of `i` from zero for `coef_grad`, as the register tiles compute
    /// these products, so the bits are theirs.
    #[inline(always)]
    pub fn one_output_pass<T: Real>(
        self,
        pass: OnePass<'_, T>,
        below: &mut [T],
        coef_grad: &mut [T],
        mut sums: Option<&mut [T]>,
    ) {
        let units = pass.coef.len();
        assert_eq!(pass.z.len(), pass.delta.len() * units, "network: z shape");
        assert_eq!(below.len(), pass.z.len(), "network: delta shape");
        assert_eq!(
            coef_grad.len(),
            units,
            "network: coefficient gradient shape"
        );
        coef_grad.fill(T::ZERO);
        if let Some(sums) = sums.as_deref_mut() {
            assert_eq!(sums.len(), units, "network: intercept gradient shape");
            sums.fill(T::ZERO);
        }
        if units == 0 {
            return;
        }
        match self {
            Hidden::Identity => pass.run(below, coef_grad, sums, |_, d| d),
            Hidden::Logistic => pass.run(below, coef_grad, sums, logistic_derivative),
            Hidden::Tanh => pass.run(below, coef_grad, sums, tanh_derivative),
            Hidden::Relu => pass.run(below, coef_grad, sums, relu_derivative),
            Hidden::Neuron(_) => unreachable!("network: a neuron's derivative reads its input"),
        }
    }
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Output::Identity => "identity",
            Output::Logistic => "logistic",
            Output::Softmax => "softmax",
            Output::Exp => "exp",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Output::Identity,
            Output::Logistic,
            Output::Softmax,
            Output::Exp,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Applies the activation to the row-major `rows × cols` matrix `values`.
    #[inline(always)]
    pub fn apply<T: Real>(self, values: &mut [T], cols: usize) {
        match self {
            Output::Identity => {}
            Output::Logistic => values.iter_mut().for_each(|v| *v = logistic(*v)),
            Output::Exp => values.iter_mut().for_each(|v| *v = v.exp()),
            Output::Softmax => {
                for row in values.chunks_exact_mut(cols) {
                    let mut max = row[0];
                    for &v in &row[1..] {
                        // numpy's max propagates NaN.
                        if v > max || v.is_nan() {
                            max = v;
                        }
                    }
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                    }
                    let sum = pairwise_sum(row);
                    for v in row.iter_mut() {
                        *v = *v / sum;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fused passes against the separate passes and products, bit for bit.

    use super::*;
    use crate::kernels::gemm::tests::filled;

    #[test]
    fn the_one_output_pass_gives_the_tiles_bits() {
        use crate::kernels::gemm::{matmul, tiles_take, View};
        let (rows, units) = (37, 100);
        if !tiles_take(rows, 1, units) {
            return; // No tiles at this level: the passes keep the products.
        }
        let mut z = filled(rows * units, 1);
        // Units that are off, and signed zeros for the products.
        z.iter_mut().step_by(3).for_each(|v| *v = 0.0);
        z[4] = -0.0;
        let mut delta = filled(rows, 2);
        delta[0] = 0.0;
        delta[1] = -0.0;
        let mut coef = filled(units, 3);
        coef[2] = -0.0;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for hidden in [
            Hidden::Identity,
            Hidden::Logistic,
            Hidden::Tanh,
            Hidden::Relu,
        ] {
            // The products on the tiles, then the derivative and the sums.
            let (d, w) = (
                View::row_major(&delta, rows, 1),
                View::row_major(&coef, 1, units),
            );
            let mut below = vec![f64::NAN; rows * units];
            matmul(&mut below, d, w, false, 1.0);
            hidden.derivative(&z, &mut below);
            let mut coef_grad = vec![f64::NAN; units];
            let z_t = View::row_major(&z, rows, units).t();
            matmul(&mut coef_grad, z_t, d, false, 1.0);
            let mut sums = vec![f64::NAN; units];
            crate::kernels::network::real::column_sums(&below, &mut sums);

            for with_sums in [false, true] {
                let pass = OnePass {
                    z: &z,
                    delta: &delta,
                    coef: &coef,
                };
                let mut fused = vec![f64::NAN; rows * units];
                let mut fused_grad = vec![f64::NAN; units];
                let mut fused_sums = vec![f64::NAN; units];
                let sums_out = with_sums.then_some(&mut fused_sums[..]);
                hidden.one_output_pass(pass, &mut fused, &mut fused_grad, sums_out);
                assert_eq!(bits(&fused), bits(&below), "{hidden:?} delta");
                assert_eq!(bits(&fused_grad), bits(&coef_grad), "{hidden:?} grad");
                if with_sums {
                    assert_eq!(bits(&fused_sums), bits(&sums), "{hidden:?} sums");
                }
            }
        }
    }

    #[test]
    fn the_tiles_epilogue_gives_the_product_and_pass_bits() {
        // On the tiles (the diabetes data's first layer, a short batch, the
        // AVX-512 kernels' leftover columns), below and above them.
        use crate::kernels::gemm::tiles_take;
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (rows, inputs, units) in [
            (200, 10, 100),
            (42, 10, 100),
            (7, 13, 37),
            (2, 2, 3),
            (300, 100, 200),
        ] {
            let mut x = filled(rows * inputs, 6);
            x[inputs..2 * inputs].fill(1e-200);
            if rows > 2 {
                x[2 * inputs] = f64::NAN;
            }
            let mut coef = filled(inputs * units, 7);
            (0..inputs).for_each(|p| coef[p * units] = -1e-200);
            let mut intercepts = filled(units, 8);
            intercepts[0] = -0.0;
            intercepts[1] = f64::NAN;
            for hidden in [
                Hidden::Identity,
                Hidden::Logistic,
                Hidden::Tanh,
                Hidden::Relu,
            ] {
                let (a, b) = (
                    View::row_major(&x, rows, inputs),
                    View::row_major(&coef, inputs, units),
                );
                let mut apart = vec![0.5; rows * units];
                matmul(&mut apart, a, b, false, 1.0);
                hidden.apply_after_adding(&mut apart, &intercepts);
                let mut fused = vec![0.5; rows * units];
                if !hidden.product_then(&mut fused, a, b, &intercepts) {
                    hidden.apply_after_adding(&mut fused, &intercepts);
                }
                let what = format!("{hidden:?} {rows}x{inputs}x{units}");
                assert_eq!(bits(&fused), bits(&apart), "{what}");
                if hidden == Hidden::Relu && tiles_take(rows, inputs, units) {
                    // The tiles' -0.0 (underflow) and NaN kept.
                    assert_eq!(fused[units].to_bits(), (-0.0_f64).to_bits(), "{what}");
                    assert!(fused[2 * units..3 * units].iter().all(|v| v.is_nan()));
                }
            }
        }
    }

    #[test]
    fn intercepts_and_activation_in_one_pass_give_the_two_passes_bits() {
        let (rows, units) = (5, 7);
        let intercepts = filled(units, 4);
        for hidden in [
            Hidden::Identity,
            Hidden::Logistic,
            Hidden::Tanh,
            Hidden::Relu,
        ] {
            let mut fused = filled(rows * units, 5);
            fused[3] = f64::NAN;
            let mut apart = fused.clone();
            hidden.apply_after_adding(&mut fused, &intercepts);
            add_row_vector(&mut apart, &intercepts);
            hidden.apply(&mut apart);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fused), bits(&apart), "{hidden:?}");
            // Without intercepts, the activation alone.
            let mut alone = filled(rows * units, 6);
            let mut applied = alone.clone();
            hidden.apply_after_adding(&mut alone, &[]);
            hidden.apply(&mut applied);
            assert_eq!(
                bits(&alone),
                bits(&applied),
                "{hidden:?} without intercepts"
            );
        }
    }
}
