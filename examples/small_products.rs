//! Small products at one instruction set: neurust's `matmul` (the register
//! tiles, at these sizes) against the GEMM kernels of faer's x86 GEMM
//! (`private-gemm-x86`, called as `kernels/gemm/faer.rs` calls it), faer's
//! own `matmul` and the `gemm` crate.
//!
//! ```sh
//! NEURUST_SIMD=avx2 cargo run --release --example small_products   # held at AVX2
//! cargo run --release --example small_products                     # the CPU's widest
//! cargo run --release --example small_products -- --samples 501 --dtype float32 64x16x32 10x200x100t
//! ```
//!
//! `NEURUST_SIMD` sets the level of neurust's kernels and of the
//! `private-gemm-x86` kernels called here. faer's `matmul` picks its kernels
//! by the CPU alone, and the `gemm` crate, built without its `x86-v4`
//! feature, runs its AVX2+FMA kernels at every level: the header names the
//! instruction set of each, and "fastest" only counts those at the level in
//! use. A shape is `MxKxN`; a trailing `t` gives `a` as the transpose of a
//! row-major `K×M` array (row stride 1, as `Xᵀ @ δ` in a backward pass).
//!
//! Every contender is first checked against a plain float64 product. Then,
//! per shape and dtype, rounds of one timed batch of each contender, the
//! order rotated each round so that load from other processes falls on all
//! alike; a batch repeats the product for about `--batch-us` microseconds.
//! Each cell is the median / minimum ns per product over the rounds, and
//! the median's GFLOP/s (2·M·K·N flops). One thread throughout.

use std::hint::black_box;
use std::time::Instant;

use faer::{MatMut, MatRef, Par};
use neurust::kernels::gemm::{self as nr_gemm, View};
use neurust::kernels::simd::Level;
use neurust::kernels::Element;

/// The shapes of `benches/test_small_products.py`, then those of a
/// scikit-learn MLP (100 hidden units, batches of 200) on the diabetes data
/// (10 features, one target): `X @ W1`, `Xᵀ @ δ1`, `H @ W2`, `δ2 @ W2ᵀ`.
const SHAPES: &[&str] = &[
    "64x16x32",
    "16x64x32",
    "64x32x1",
    "64x64x64",
    "128x32x8",
    "128x32x40",
    "6x5x129",
    "200x10x100",
    "10x200x100t",
    "200x100x1",
    "200x1x100",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Neurust,
    #[cfg(target_arch = "x86_64")]
    PrivateGemm,
    Faer,
    GemmCrate,
}

impl Contender {
    fn all() -> Vec<Contender> {
        vec![
            Contender::Neurust,
            #[cfg(target_arch = "x86_64")]
            Contender::PrivateGemm,
            Contender::Faer,
            Contender::GemmCrate,
        ]
    }

    fn name(self) -> &'static str {
        match self {
            Contender::Neurust => "neurust matmul",
            #[cfg(target_arch = "x86_64")]
            Contender::PrivateGemm => "private-gemm-x86",
            Contender::Faer => "faer matmul",
            Contender::GemmCrate => "gemm 0.19",
        }
    }

    /// The instruction set its kernels use here.
    fn level(self) -> Level {
        match self {
            Contender::Neurust => Level::detect(),
            // The same rule as `kernels/gemm/faer.rs`: AVX2 kernels when the
            // level in use is AVX2, AVX-512 ones when it is AVX-512.
            #[cfg(target_arch = "x86_64")]
            Contender::PrivateGemm => Level::detect(),
            Contender::Faer => Level::cpu(),
            // Its x86 kernels: AVX2+FMA where the CPU has FMA, else scalar.
            Contender::GemmCrate if Level::cpu() >= Level::Avx2Fma => Level::Avx2Fma,
            Contender::GemmCrate => Level::Baseline,
        }
    }

    fn runs_here(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Contender::PrivateGemm => Level::detect() >= Level::Avx2Fma,
            _ => true,
        }
    }
}

/// One product `a @ b`: `a` is `m × k`, `b` row-major `k × n`.
struct Case<T> {
    m: usize,
    k: usize,
    n: usize,
    /// Row-major `m × k`, or row-major `k × m` when `transposed`.
    a: Vec<T>,
    b: Vec<T>,
    transposed: bool,
}

impl<T: Element> Case<T> {
    fn new(m: usize, k: usize, n: usize, transposed: bool) -> Self {
        let filled = |len: usize, seed: usize| -> Vec<T> {
            (0..len)
                .map(|i| T::from_f64((((i + seed) * 2654435761) % 2001) as f64 / 1000.0 - 1.0))
                .collect()
        };
        Case {
            m,
            k,
            n,
            a: filled(m * k, 1),
            b: filled(k * n, 2),
            transposed,
        }
    }

    /// (row stride, column stride) of `a` as the product reads it.
    fn a_strides(&self) -> (usize, usize) {
        if self.transposed {
            (1, self.m)
        } else {
            (self.k, 1)
        }
    }

    fn a_at(&self, i: usize, p: usize) -> f64 {
        let (rs, cs) = self.a_strides();
        self.a[i * rs + p * cs].to_f64()
    }

    fn a_view(&self) -> View<'_, T> {
        if self.transposed {
            View::row_major(&self.a, self.k, self.m).t()
        } else {
            View::row_major(&self.a, self.m, self.k)
        }
    }

    fn a_faer(&self) -> MatRef<'_, T> {
        let (rs, cs) = self.a_strides();
        // SAFETY: the strides address `m × k` elements within `a`, borrowed
        // for the returned lifetime.
        unsafe { MatRef::from_raw_parts(self.a.as_ptr(), self.m, self.k, rs as isize, cs as isize) }
    }

    fn b_faer(&self) -> MatRef<'_, T> {
        // SAFETY: `b` is row-major `k × n`, borrowed for the returned lifetime.
        unsafe { MatRef::from_raw_parts(self.b.as_ptr(), self.k, self.n, self.n as isize, 1) }
    }

    /// `out = a @ b` (row-major `m × n`) by `contender`.
    fn run(&self, contender: Contender, out: &mut [T]) {
        let (m, k, n) = (self.m, self.k, self.n);
        let (a_rs, a_cs) = self.a_strides();
        match contender {
            Contender::Neurust => nr_gemm::matmul(
                out,
                self.a_view(),
                View::row_major(&self.b, k, n),
                false,
                T::ONE,
            ),
            // SAFETY: `runs_here` checked the CPU's level.
            #[cfg(target_arch = "x86_64")]
            Contender::PrivateGemm => unsafe { self.private_gemm(out) },
            Contender::Faer => {
                // SAFETY: `out` is row-major `m × n`, borrowed for the call.
                let out =
                    unsafe { MatMut::from_raw_parts_mut(out.as_mut_ptr(), m, n, n as isize, 1) };
                T::faer_gemm(out, self.a_faer(), self.b_faer(), false, T::ONE, Par::Seq);
            }
            // SAFETY: the pointers and strides (column stride first, as the
            // crate takes them) describe the three matrices, `out` overlaps
            // neither operand, and `T` is f32 or f64.
            Contender::GemmCrate => unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    self.a.as_ptr(),
                    a_cs as isize,
                    a_rs as isize,
                    self.b.as_ptr(),
                    1,
                    n as isize,
                    T::ZERO,
                    T::ONE,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            },
        }
    }

    /// The product on faer's x86 GEMM at the level in use, with the
    /// arguments `kernels/gemm/faer.rs` (`avx2_gemm`) passes.
    ///
    /// # Safety
    /// The CPU has the level in use, AVX2+FMA or above.
    #[cfg(target_arch = "x86_64")]
    unsafe fn private_gemm(&self, out: &mut [T]) {
        use private_gemm_x86 as x86;
        let (a_rs, a_cs) = self.a_strides();
        let dtype = if T::NAME == "float64" {
            x86::DType::F64
        } else {
            x86::DType::F32
        };
        let instr = if Level::detect() == Level::Avx512 {
            x86::InstrSet::Avx512
        } else {
            x86::InstrSet::Avx256
        };
        let alpha = T::ONE;
        // SAFETY: as in `avx2_gemm`: the pointers and strides describe the
        // three matrices, `out` overlaps neither operand, `T` is as `dtype`
        // says, no index arrays or diagonal, and the caller checked the CPU.
        unsafe {
            x86::gemm(
                dtype,
                x86::IType::U64,
                instr,
                self.m,
                self.n,
                self.k,
                out.as_mut_ptr().cast(),
                self.n as isize,
                1,
                std::ptr::null(),
                std::ptr::null(),
                x86::DstKind::Full,
                x86::Accum::Replace,
                self.a.as_ptr().cast(),
                a_rs as isize,
                a_cs as isize,
                false,
                std::ptr::null(),
                0,
                self.b.as_ptr().cast(),
                self.n as isize,
                1,
                false,
                std::ptr::from_ref(&alpha).cast(),
                1,
            );
        }
    }

    /// Panics unless `contender` computes the product within rounding.
    fn check(&self, contender: Contender) {
        let mut out = vec![T::from_f64(f64::NAN); self.m * self.n];
        self.run(contender, &mut out);
        let eps = T::EPSILON.to_f64();
        for i in 0..self.m {
            for j in 0..self.n {
                let want: f64 = (0..self.k)
                    .map(|p| self.a_at(i, p) * self.b[p * self.n + j].to_f64())
                    .sum();
                let got = out[i * self.n + j].to_f64();
                assert!(
                    (got - want).abs() <= 4.0 * eps * self.k as f64,
                    "{} {}x{}x{} {}: ({i}, {j}) is {got}, not {want}",
                    contender.name(),
                    self.m,
                    self.k,
                    self.n,
                    T::NAME
                );
            }
        }
    }
}

/// Nanoseconds per product over one batch of `reps` products.
fn batch<T: Element>(case: &Case<T>, contender: Contender, out: &mut [T], reps: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..reps {
        case.run(contender, black_box(&mut *out));
    }
    let ns = start.elapsed().as_nanos() as f64;
    black_box(&mut *out);
    ns / reps as f64
}

struct Timing {
    median: f64,
    min: f64,
}

fn time_case<T: Element>(
    case: &Case<T>,
    contenders: &[Contender],
    options: &Options,
) -> Vec<Timing> {
    let mut outs: Vec<Vec<T>> = contenders
        .iter()
        .map(|_| vec![T::ZERO; case.m * case.n])
        .collect();
    // Warm up each for about 5 ms and size its batch from the rate seen.
    let reps: Vec<usize> = contenders
        .iter()
        .zip(&mut outs)
        .map(|(&c, out)| {
            let start = Instant::now();
            let mut calls = 0;
            while start.elapsed().as_micros() < 5_000 {
                batch(case, c, out, 10);
                calls += 10;
            }
            let ns = start.elapsed().as_nanos() as f64 / calls as f64;
            ((options.batch_us * 1e3 / ns).ceil() as usize).max(1)
        })
        .collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(options.samples); contenders.len()];
    for round in 0..options.samples {
        for turn in 0..contenders.len() {
            let i = (round + turn) % contenders.len();
            samples[i].push(batch(case, contenders[i], &mut outs[i], reps[i]));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            Timing {
                median: s[s.len() / 2],
                min: s[0],
            }
        })
        .collect()
}

struct Options {
    samples: usize,
    batch_us: f64,
    dtypes: Vec<&'static str>,
    shapes: Vec<String>,
}

fn options() -> Options {
    let usage = "usage: small_products [--samples N] [--batch-us US] \
                 [--dtype float64|float32] [MxKxN[t]]...";
    let mut options = Options {
        samples: 301,
        batch_us: 50.0,
        dtypes: vec!["float64", "float32"],
        shapes: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{usage}"));
        match arg.as_str() {
            "--samples" => options.samples = value().parse().expect(usage),
            "--batch-us" => options.batch_us = value().parse().expect(usage),
            "--dtype" => {
                options.dtypes = match value().as_str() {
                    "float64" => vec!["float64"],
                    "float32" => vec!["float32"],
                    _ => panic!("{usage}"),
                }
            }
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            shape => options.shapes.push(shape.to_owned()),
        }
    }
    assert!(options.samples > 0, "{usage}");
    if options.shapes.is_empty() {
        options.shapes = SHAPES.iter().map(|s| s.to_string()).collect();
    }
    options
}

/// `MxKxN` or `MxKxNt` as (m, k, n, transposed).
fn parse_shape(shape: &str) -> (usize, usize, usize, bool) {
    let (dims, transposed) = match shape.strip_suffix('t') {
        Some(dims) => (dims, true),
        None => (shape, false),
    };
    let dims: Vec<usize> = dims
        .split('x')
        .map(|d| {
            d.parse()
                .unwrap_or_else(|_| panic!("shape {shape}: MxKxN[t]"))
        })
        .collect();
    assert!(dims.len() == 3, "shape {shape}: MxKxN[t]");
    (dims[0], dims[1], dims[2], transposed)
}

fn row<T: Element>(shape: &str, contenders: &[Contender], options: &Options) {
    let (m, k, n, transposed) = parse_shape(shape);
    let case = Case::<T>::new(m, k, n, transposed);
    for &c in contenders {
        case.check(c);
    }
    let timings = time_case(&case, contenders, options);
    let flops = 2.0 * (m * k * n) as f64;
    let mut cells: Vec<String> = vec![shape.to_owned(), T::NAME.to_owned()];
    for t in &timings {
        cells.push(format!(
            "{:.0} / {:.0} ({:.1})",
            t.median,
            t.min,
            flops / t.median
        ));
    }
    let at_level = |i: &usize| contenders[*i].level() == Level::detect();
    let fastest = (0..contenders.len())
        .filter(at_level)
        .min_by(|&i, &j| timings[i].median.total_cmp(&timings[j].median))
        .expect("neurust runs at the level in use");
    cells.push(contenders[fastest].name().to_owned());
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = contenders.iter().position(|&c| c == Contender::PrivateGemm) {
        cells.push(format!("{:.2}", timings[p].median / timings[0].median));
    }
    println!("| {} |", cells.join(" | "));
}

fn main() {
    let options = options();
    let contenders: Vec<Contender> = Contender::all()
        .into_iter()
        .filter(|c| c.runs_here())
        .collect();
    println!(
        "level in use: {} (CPU: {}{}); neurust's small products: {}",
        Level::detect().name(),
        Level::cpu().name(),
        if Level::detect() < Level::cpu() {
            ", narrowed by NEURUST_SIMD"
        } else {
            ""
        },
        nr_gemm::small_kernel_name()
    );
    println!(
        "{} rounds of batches of about {} µs; cells: median / min ns per product (GFLOP/s of the median)\n",
        options.samples, options.batch_us
    );
    let mut header: Vec<String> = vec!["shape MxKxN".into(), "dtype".into()];
    header.extend(
        contenders
            .iter()
            .map(|c| format!("{} ({})", c.name(), c.level().name())),
    );
    header.push(format!("fastest at {}", Level::detect().name()));
    #[cfg(target_arch = "x86_64")]
    if contenders.contains(&Contender::PrivateGemm) {
        header.push("private-gemm / neurust".into());
    }
    println!("| {} |", header.join(" | "));
    println!("|{}", "---|".repeat(header.len()));
    for shape in &options.shapes {
        for &dtype in &options.dtypes {
            if dtype == "float64" {
                row::<f64>(shape, &contenders, &options);
            } else {
                row::<f32>(shape, &contenders, &options);
            }
        }
    }
}
