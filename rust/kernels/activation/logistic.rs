//! The logistic function's float64 and float32 kernels, with the same bits on
//! every x86-64 CPU: their own `exp`, IEEE operations and `mul_add` only.

/// `e^t` for `t <= 0` (NaN gives a finite garbage value: callers pass NaN
/// through themselves), to within about one unit in the last place.
///
/// Branch-free so that it vectorises, and built only from operations IEEE
/// 754 defines exactly (`mul_add` is a fused multiply-add, rounded once), so
/// it gives the same bits on every machine, unlike the C library's `exp`.
/// `t = n ln 2 + r` with `|r| <= ln 2 / 2`; `e^r` is its Taylor polynomial
/// of degree 13 (the first omitted term is below 2^-57); `2^n` is applied in
/// two exact halves so that results in the subnormal range round once.
#[inline(always)]
fn exp_nonpositive(t: f64) -> f64 {
    // ln 2 split so that n * LN2_HI is exact for |n| < 2^11 (fdlibm's split).
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    // Adding and subtracting 1.5 * 2^52 rounds to the nearest integer.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    // 2^52 + 1023: adding it to an integer puts the biased exponent in the
    // low bits of the result, from where a shift moves it into place.
    const EXPONENT: f64 = 4_503_599_627_370_496.0 + 1023.0;
    const INV_FACTORIAL: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    // Below -746, e^t rounds to 0 (the least subnormal is 2^-1074).
    let t = t.max(-746.0);
    let n = t.mul_add(std::f64::consts::LOG2_E, ROUND) - ROUND;
    let r = (-n).mul_add(LN2_HI, t);
    let r = (-n).mul_add(LN2_LO, r);
    let mut p = INV_FACTORIAL[13];
    for &c in INV_FACTORIAL[..13].iter().rev() {
        p = p.mul_add(r, c);
    }
    // n is in [-1077, 0]: each half of it is a normal power of two.
    let half = (n * 0.5).floor();
    let scale = |k: f64| f64::from_bits((k + EXPONENT).to_bits() << 52);
    p * scale(half) * scale(n - half)
}

/// [`sigmoid`](super::sigmoid) in float64, from the degree-13 [`exp_nonpositive`].
#[inline(always)]
pub fn sigmoid_f64(v: f64) -> f64 {
    let e = exp_nonpositive(-v.abs());
    let numerator = if v >= 0.0 { 1.0 } else { e };
    let s = numerator / (1.0 + e);
    if v.is_nan() {
        v
    } else {
        s
    }
}

/// [`sigmoid`](super::sigmoid) in float32 arithmetic, so that it runs 8 (AVX2) or 16
/// (AVX-512) lanes wide, branch-free.
///
/// `e = e^-|x|` as in [`exp_nonpositive`], narrowed: `-|x| = n ln 2 + r`
/// with `ln 2` split so that `n ln 2_hi` cancels exactly; `e^r` is a
/// degree-6 polynomial with `1 + r` kept exact, fitted to relative error
/// (0.09 ulp on `|r| <= ln 2 / 2`); `2^n` is applied as `2^(n + 64)`
/// (exact) then `2^-64`, which rounds once where `e` is subnormal. The
/// division is IEEE's, not a reciprocal estimate, whose bits differ
/// between CPU makers.
///
/// Error over all 2^32 inputs: at most 2 ulp from the float64 sigmoid
/// rounded to float32 (2.40 ulp from the float64 value itself, at
/// x = -4.157294, where the result is just below 2^-6), measured by
/// `cargo test --release sigmoid_f32_error_over_every_input -- --ignored`.
#[inline(always)]
pub fn sigmoid_f32(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 rounded to float32, and the rest.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7218);
    const LN2_LO: f32 = f32::from_bits(0xb102_e308);
    // 1.5 * 2^23 + 191: adding it rounds to the nearest integer n and
    // leaves n + 191 = (n + 64) + 127, the biased exponent of 2^(n + 64),
    // in the low bits (n >= -150 keeps it positive).
    const SHIFTER: f32 = 12_583_103.0;
    const TWO_POW_MINUS_64: f32 = f32::from_bits((127 - 64) << 23);
    // e^r = 1 + r + r^2 (C[0] + C[1] r + ...), a weighted least-squares
    // (near-minimax) fit in float64, rounded.
    const C: [f32; 5] = [
        f32::from_bits(0x3eff_ffff),
        f32::from_bits(0x3e2a_aa49),
        f32::from_bits(0x3d2a_ab41),
        f32::from_bits(0x3c09_1ce0),
        f32::from_bits(0x3ab5_ec81),
    ];
    // e^-104 < 2^-150 rounds to 0, as does everything below it.
    let t = (-x.abs()).max(-104.0);
    let k = t.mul_add(LOG2_E, SHIFTER);
    let n = k - SHIFTER;
    let r = (-n).mul_add(LN2_HI, t);
    let r = (-n).mul_add(LN2_LO, r);
    let mut p = C[4];
    for &c in C[..4].iter().rev() {
        p = p.mul_add(r, c);
    }
    let p = p.mul_add(r, 1.0).mul_add(r, 1.0);
    let e = p * f32::from_bits(k.to_bits() << 23) * TWO_POW_MINUS_64;
    let numerator = if x >= 0.0 { 1.0 } else { e };
    let s = numerator / (1.0 + e);
    if x.is_nan() {
        x
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        activate, map_body, map_serial, parallel, sigmoid, sigmoid_grad, zip_body, Activation,
    };
    use super::*;
    use crate::kernels::simd::{self, Level};
    use crate::kernels::Float;

    /// Distance in units in the last place between two non-negative floats.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn exp_is_within_one_ulp_of_the_c_library_down_to_the_subnormals() {
        let mut worst = 0;
        let count = 2_000_000;
        for i in 0..=count {
            // Every region: [-746, 0] evenly, plus points near 0.
            let t = -746.0 * (i as f64 / count as f64);
            for t in [t, t * 1e-6] {
                let (got, want) = (exp_nonpositive(t), t.exp());
                worst = worst.max(ulps(got, want));
            }
        }
        assert!(worst <= 1, "worst error {worst} ulp");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-0.0), 1.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpositive(-745.2), (-745.2_f64).exp()); // least subnormal
    }

    /// The float32 sigmoid's stated bound, in ulp of the correctly rounded
    /// value (see `sigmoid_f32`).
    const SIGMOID_F32_MAX_ULP: u32 = 2;

    /// Distance in ulp between the float32 sigmoid of `x` and the float64
    /// sigmoid rounded to float32 (both non-negative; NaN meets NaN).
    fn sigmoid_f32_ulps(x: f32, got: f32) -> u32 {
        let want = sigmoid_f64(x as f64) as f32;
        if want.is_nan() && got.is_nan() {
            return 0;
        }
        got.to_bits().abs_diff(want.to_bits())
    }

    /// Inputs where the float32 sigmoid changes regime: ±0, the extremes,
    /// the subnormal and zero outputs below -87.3 and -103.97, the
    /// saturation to 1 near 16.6, the tails of the exponent's reduction.
    fn sigmoid_f32_edges() -> Vec<f32> {
        let mut xs = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7f80_0001), // a signalling NaN
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            -f32::from_bits(1),
            f32::MAX,
            f32::MIN,
            0.346_573_6,
            -0.346_573_6,
        ];
        for centre in [
            -103.972_08_f32,
            -103.279,
            -87.336_55,
            -16.635,
            16.635,
            17.33,
            -104.0,
        ] {
            let mut below = centre;
            let mut above = centre;
            for _ in 0..300 {
                xs.extend([below, above]);
                below = below.next_down();
                above = above.next_up();
            }
        }
        xs
    }

    #[test]
    fn sigmoid_of_float32_is_within_the_stated_ulps_of_the_rounded_value() {
        // Every 4099th bit pattern (both signs, every binade) and the edges.
        let mut xs: Vec<f32> = (0..=u32::MAX).step_by(4099).map(f32::from_bits).collect();
        xs.extend(sigmoid_f32_edges());
        let mut got = vec![0.0; xs.len()];
        activate(Activation::Sigmoid, &xs, &mut got);
        for (&x, &s) in xs.iter().zip(&got) {
            let ulps = sigmoid_f32_ulps(x, s);
            assert!(
                ulps <= SIGMOID_F32_MAX_ULP,
                "sigmoid({x:e}) = {s:e}: {ulps} ulp"
            );
        }
        assert_eq!(sigmoid(0.0_f32), 0.5);
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(-104.0_f32), 0.0);
        assert_eq!(sigmoid(-103.9_f32), f32::from_bits(1)); // the least subnormal
        assert!(sigmoid(-90.0_f32) > 0.0 && sigmoid(-90.0_f32) < f32::MIN_POSITIVE);
        assert!(sigmoid(f32::NAN).is_nan());
    }

    /// Applies the sigmoid (and its gradient) to `xs` as the kernels do,
    /// compiled for `level`, then one element at a time through a call
    /// the optimiser cannot see into (baseline code, `mul_add` in
    /// software where the CPU lacks FMA), and compares the bits.
    fn assert_sigmoid_bits_equal_at_every_level<T: Float>(xs: &[T], to_bits: fn(T) -> u64) {
        let scalar: fn(T) -> T = std::hint::black_box(sigmoid::<T>);
        let scalar_grad: fn(T, T) -> T = std::hint::black_box(sigmoid_grad::<T>);
        let grads: Vec<T> = xs.iter().map(|&x| x * x + T::ONE).collect();
        for max in Level::ALL {
            let mut out = vec![T::ZERO; xs.len()];
            let mut grad_out = vec![T::ZERO; xs.len()];
            simd::dispatch(
                max,
                #[inline(always)]
                |_| {
                    map_body(xs, &mut out, sigmoid);
                    zip_body(xs, &grads, &mut grad_out, sigmoid_grad);
                },
            );
            for (i, &x) in xs.iter().enumerate() {
                let (want, want_grad) = (scalar(x), scalar_grad(x, grads[i]));
                assert_eq!(to_bits(out[i]), to_bits(want), "{max:?} sigmoid({x:?})");
                assert_eq!(
                    to_bits(grad_out[i]),
                    to_bits(want_grad),
                    "{max:?} sigmoid_grad({x:?})"
                );
            }
        }
    }

    #[test]
    fn sigmoid_gives_the_same_bits_at_every_instruction_set_level() {
        let mut xs: Vec<f32> = (0..=u32::MAX).step_by(4093).map(f32::from_bits).collect();
        xs.extend(sigmoid_f32_edges());
        assert_sigmoid_bits_equal_at_every_level(&xs, |x| x.to_bits() as u64);
        let wide: Vec<f64> = (0..=u64::MAX)
            .step_by(1 << 44)
            .map(f64::from_bits)
            .chain(xs.iter().map(|&x| x as f64))
            .chain([-745.2, -709.0, -36.8, 36.8, 1000.0])
            .collect();
        assert_sigmoid_bits_equal_at_every_level(&wide, f64::to_bits);
    }

    /// Every float32 input, for the figure in `sigmoid_f32`'s comment:
    /// `cargo test --release sigmoid_f32_error_over_every_input -- --ignored --nocapture`
    /// (seconds in release mode; hours in debug).
    #[test]
    #[ignore]
    fn sigmoid_f32_error_over_every_input() {
        const PART: usize = 1 << 20;
        let worst = std::sync::Mutex::new((0_u32, 0.0_f64, 0.0_f32));
        let parts = (1_usize << 32) / PART;
        parallel::for_each_index(parts, |part| {
            let xs: Vec<f32> = (0..PART)
                .map(|i| f32::from_bits((part * PART + i) as u32))
                .collect();
            let mut got = vec![0.0; PART];
            map_serial(&xs, &mut got, Activation::Sigmoid);
            let wide: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            let mut exact = vec![0.0; PART];
            map_serial(&wide, &mut exact, Activation::Sigmoid);
            let mut local = (0_u32, 0.0_f64, 0.0_f32);
            for ((&x, &s), &e) in xs.iter().zip(&got).zip(&exact) {
                let ulps = sigmoid_f32_ulps(x, s);
                // The error as a real number, in ulp of the rounded value.
                let binade = (e as f32).abs().max(f32::MIN_POSITIVE);
                let ulp = (f32::from_bits(binade.to_bits() & 0x7f80_0000) as f64) * 2f64.powi(-23);
                let real = if e.is_nan() {
                    0.0
                } else {
                    (s as f64 - e).abs() / ulp
                };
                local.0 = local.0.max(ulps);
                if real > local.1 {
                    local.1 = real;
                    local.2 = x;
                }
            }
            let mut worst = worst.lock().unwrap();
            worst.0 = worst.0.max(local.0);
            if local.1 > worst.1 {
                (worst.1, worst.2) = (local.1, local.2);
            }
        });
        let (ulps, real, at) = worst.into_inner().unwrap();
        println!("float32 sigmoid: at most {ulps} ulp from the rounded float64 value; {real:.3} ulp from the float64 value at x = {at:e}");
        assert!(ulps <= SIGMOID_F32_MAX_ULP);
    }

    #[test]
    fn sigmoid_is_finite_and_accurate_at_the_extremes() {
        assert_eq!(sigmoid(0.0_f64), 0.5);
        assert_eq!(sigmoid(1000.0_f64), 1.0);
        assert_eq!(sigmoid(-1000.0_f64), 0.0);
        let tiny = sigmoid(-700.0_f64);
        assert!(tiny > 0.0 && (tiny / (-700.0_f64).exp() - 1.0).abs() < 1e-12);
        assert!(sigmoid(f32::NAN).is_nan());
    }
}
