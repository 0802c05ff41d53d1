//! The one place that picks AVX-512, AVX2+FMA, AVX or baseline code at run time.
//!
//! Wheels target the baseline x86-64 CPU; a kernel passed to [`dispatch`]
//! is inlined into a copy compiled for the widest instruction set the CPU
//! has (up to the kernel's own limit), so its loops use the wide registers.
//! Rust never contracts a multiply and an add into an FMA by itself, so the
//! copies give the same bits; only explicit `mul_add` calls change speed
//! (a library call without FMA, one instruction with it). The small
//! products in `gemm` keep their own AVX trampoline, chosen by
//! [`Level::detect`], because the closure cost them time (see there).

use std::sync::atomic::{AtomicU8, Ordering};

/// `Level::detect` has not probed the CPU yet.
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

    /// The widest level this CPU supports, found once (then one load).
    #[inline]
    pub fn detect() -> Level {
        static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);
        match LEVEL.load(Ordering::Relaxed) {
            0 => Level::Baseline,
            1 => Level::Avx,
            2 => Level::Avx2Fma,
            3 => Level::Avx512,
            _ => {
                let level = Self::probe();
                LEVEL.store(level as u8, Ordering::Relaxed);
                level
            }
        }
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

/// Runs `kernel` compiled for the widest level up to `max` that this CPU
/// supports, and passes it that level: the kernel may use intrinsics of any
/// level up to it.
///
/// Mark the closure `#[inline(always)]`: only code inlined into the copy is
/// compiled for its features, and without the mark the optimiser may keep
/// the closure out of line (the sigmoid then ran 30 times slower, each
/// `mul_add` a library call).
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
    fn dispatch_runs_at_the_lesser_of_the_limit_and_the_cpu() {
        let cpu = Level::detect();
        for max in Level::ALL {
            assert_eq!(dispatch(max, |level| level), max.min(cpu));
        }
    }
}
