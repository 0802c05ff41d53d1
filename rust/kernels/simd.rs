//! The one place that picks AVX-512, AVX2+FMA, AVX or baseline code at run time.
//!
//! Wheels target the baseline x86-64 CPU; a kernel passed to [`dispatch`]
//! is inlined into a copy compiled for the widest instruction set in use
//! (up to the kernel's own limit), so its loops use the wide registers.
//! Rust never contracts a multiply and an add into an FMA by itself, so the
//! copies give the same bits; only explicit `mul_add` calls change speed
//! (a library call without FMA, one instruction with it). The small
//! products in `gemm` keep their own trampolines, chosen by
//! [`Level::detect`], because the closure cost them time (see there).
//!
//! The level in use is the widest the CPU has, unless `NEURUST_SIMD`
//! ([`SIMD_VARIABLE`]) names a narrower one: then a machine with AVX-512
//! runs, tests and times the code a CPU with only AVX2 runs. The variable is
//! read once, at the first use of any kernel.

use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that narrows the instruction set in use.
pub const SIMD_VARIABLE: &str = "NEURUST_SIMD";

/// Not probed yet.
const UNKNOWN: u8 = u8::MAX;

/// An instruction set a kernel can be compiled for, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Baseline = 0,
    Avx = 1,
    Avx2Fma = 2,
    /// AVX-512F with FMA (every such CPU has AVX2 too): 16 float32 lanes.
    Avx512 = 3,
}

impl Level {
    /// Every level, narrowest first.
    pub const ALL: [Level; 4] = [Level::Baseline, Level::Avx, Level::Avx2Fma, Level::Avx512];

    /// The level in use: the CPU's widest ([`Level::cpu`]), or the narrower
    /// one `NEURUST_SIMD` asks for. Found once, then one load.
    #[inline]
    pub fn detect() -> Level {
        static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);
        Self::cached(&LEVEL, || match level_from_environment() {
            Ok(Some(asked)) => asked.min(Self::cpu()),
            Ok(None) | Err(_) => Self::cpu(),
        })
    }

    /// The widest level this CPU supports, whatever `NEURUST_SIMD` says.
    #[inline]
    pub fn cpu() -> Level {
        static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);
        Self::cached(&LEVEL, Self::probe)
    }

    #[inline]
    fn cached(cell: &AtomicU8, find: impl FnOnce() -> Level) -> Level {
        match Self::from_u8(cell.load(Ordering::Relaxed)) {
            Some(level) => level,
            None => {
                let level = find();
                cell.store(level as u8, Ordering::Relaxed);
                level
            }
        }
    }

    fn from_u8(value: u8) -> Option<Level> {
        Self::ALL.get(usize::from(value)).copied()
    }

    /// The name `NEURUST_SIMD` takes for it (and `build_info` reports).
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "scalar",
            Level::Avx => "avx",
            Level::Avx2Fma => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Parses a [`Level::name`] (any case, surrounding blanks ignored).
    pub fn from_name(name: &str) -> Option<Level> {
        let name = name.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|level| level.name() == name)
    }

    fn probe() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx2Fma;
            }
            if std::arch::is_x86_feature_detected!("avx") {
                return Level::Avx;
            }
        }
        Level::Baseline
    }
}

/// Why `NEURUST_SIMD` is ignored: its value, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimdVariableError {
    /// Not one of the levels' names.
    Unknown(String),
    /// A level this CPU lacks.
    AboveCpu(Level),
}

impl std::fmt::Display for SimdVariableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpu = Level::cpu().name();
        match self {
            SimdVariableError::Unknown(value) => {
                let names: Vec<&str> = Level::ALL.iter().map(|level| level.name()).collect();
                write!(
                    f,
                    "{SIMD_VARIABLE}='{value}' is ignored: it must be one of {}; \
                     using {cpu}, the widest this CPU has",
                    names.join(", ")
                )
            }
            SimdVariableError::AboveCpu(level) => write!(
                f,
                "{SIMD_VARIABLE}='{}' is ignored: this CPU has at most {cpu}; using {cpu}",
                level.name()
            ),
        }
    }
}

/// The level `NEURUST_SIMD` asks for: `Ok(None)` when it is not set (or
/// blank), an error when it names no level or one above the CPU's (the
/// kernels then use the CPU's widest; the bindings warn).
pub fn level_from_environment() -> Result<Option<Level>, SimdVariableError> {
    let Some(raw) = std::env::var_os(SIMD_VARIABLE) else {
        return Ok(None);
    };
    let value = raw.to_string_lossy();
    if value.trim().is_empty() {
        return Ok(None);
    }
    match Level::from_name(&value) {
        Some(level) if level > Level::cpu() => Err(SimdVariableError::AboveCpu(level)),
        Some(level) => Ok(Some(level)),
        None => Err(SimdVariableError::Unknown(value.into_owned())),
    }
}

/// Whether `NEURUST_SIMD` narrowed the level in use below the CPU's.
pub fn is_forced() -> bool {
    Level::detect() < Level::cpu()
}

/// Runs `kernel` compiled for the widest level up to `max` that this CPU
/// supports, and passes it that level: the kernel may use intrinsics of any
/// level up to it.
///
/// Mark the closure `#[inline(always)]`: only code inlined into the copy is
/// compiled for its features, and without the mark the optimiser may keep
/// the closure out of line, each `mul_add` then a library call (see
/// `benches/test_activations.py`; figures in docs/performance.md).
#[inline]
pub fn dispatch<R>(max: Level, kernel: impl FnOnce(Level) -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match max.min(Level::detect()) {
        // SAFETY: `detect` found the features each copy is compiled for.
        Level::Avx512 => return unsafe { avx512(kernel) },
        Level::Avx2Fma => return unsafe { avx2_fma(kernel) },
        Level::Avx => return unsafe { avx(kernel) },
        Level::Baseline => {}
    }
    let _ = max;
    kernel(Level::Baseline)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn avx<R>(kernel: impl FnOnce(Level) -> R) -> R {
    kernel(Level::Avx)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512<R>(kernel: impl FnOnce(Level) -> R) -> R {
    kernel(Level::Avx512)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_fma<R>(kernel: impl FnOnce(Level) -> R) -> R {
    kernel(Level::Avx2Fma)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_round_trip_in_any_case() {
        for level in Level::ALL {
            assert_eq!(Level::from_name(level.name()), Some(level));
            assert_eq!(
                Level::from_name(&format!(" {} ", level.name().to_uppercase())),
                Some(level)
            );
        }
        assert_eq!(Level::from_name("sse9"), None);
        assert_eq!(Level::from_name(""), None);
    }

    #[test]
    fn the_level_in_use_is_never_above_the_cpu() {
        assert!(Level::detect() <= Level::cpu());
    }

    #[test]
    fn the_warning_names_the_variable_and_the_value() {
        let text = SimdVariableError::Unknown("sse9".into()).to_string();
        assert!(
            text.contains("NEURUST_SIMD='sse9'") && text.contains("avx2"),
            "{text}"
        );
        let text = SimdVariableError::AboveCpu(Level::Avx512).to_string();
        assert!(text.contains("NEURUST_SIMD='avx512'"), "{text}");
    }

    #[test]
    fn dispatch_runs_at_the_lesser_of_the_limit_and_the_level_in_use() {
        let cpu = Level::detect();
        for max in Level::ALL {
            assert_eq!(dispatch(max, |level| level), max.min(cpu));
        }
    }
}
