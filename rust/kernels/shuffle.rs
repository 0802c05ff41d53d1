//! numpy's legacy `RandomState.shuffle` of a 1-D array, draw for draw.
//!
//! The random bits come from a [`BitSource`]; the bindings pass numpy's own
//! bit generator, so the same generator state gives the same permutation and
//! leaves the generator where numpy's shuffle leaves it. Only the two pieces
//! of numpy's algorithm around the draws live here: the Fisher-Yates walk
//! (`_shuffle_raw` in numpy's `mtrand.pyx`) and the bounded draw it uses
//! (`random_interval` in numpy's `distributions.c`).

/// A stream of random bits: numpy's `bitgen_t` seen from Rust.
pub trait BitSource {
    /// The generator's next 32 bits (`next_uint32`).
    fn next_u32(&mut self) -> u32;
    /// The generator's next 64 bits (`next_uint64`).
    fn next_u64(&mut self) -> u64;
}

/// The smallest all-ones bit mask `>= max` (`0` for `0`).
pub fn mask(max: u64) -> u64 {
    u64::MAX.checked_shr(max.leading_zeros()).unwrap_or(0)
}

/// A uniform integer in `[0, max]` by numpy's `random_interval`: draws
/// masked to [`mask`]`(max)` bits until one is `<= max`; 32-bit draws when
/// `max` fits in 32 bits, 64-bit draws otherwise, and no draw for `max == 0`.
pub fn random_interval<B: BitSource + ?Sized>(bits: &mut B, max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let mask = mask(max);
    if let Ok(max) = u32::try_from(max) {
        // `mask` fits in 32 bits here, as `max` does.
        let mask = mask as u32;
        loop {
            let value = bits.next_u32() & mask;
            if value <= max {
                return u64::from(value);
            }
        }
    }
    loop {
        let value = bits.next_u64() & mask;
        if value <= max {
            return value;
        }
    }
}

/// Shuffles `values` in place as numpy's legacy `RandomState.shuffle` does
/// a 1-D array: for `i` from `len - 1` down to 1, swap `values[i]` with
/// `values[random_interval(i)]`. `len - 1` draws at least; none for a
/// length of 0 or 1.
pub fn shuffle<T, B: BitSource + ?Sized>(values: &mut [T], bits: &mut B) {
    let mut i = values.len().saturating_sub(1);
    // Indices above 32 bits: numpy's 64-bit draws, one `random_interval` each.
    while i > u32::MAX as usize {
        let j = random_interval(bits, i as u64) as usize;
        values.swap(i, j);
        i -= 1;
    }
    // The rest, in runs of indices that share a mask (`i` down to the next
    // power of two). Each pass makes one 32-bit draw; a draw above `i` swaps
    // `values[i]` with itself and stays at `i`, so the next pass redraws for
    // the same `i`: the draws of `random_interval`, without its branch on
    // each draw, which no predictor guesses (about 30% of the draws are
    // rejected), and with nothing but a compare and a subtraction carried
    // from one draw to the next.
    while i > 0 {
        let mask = mask(i as u64) as u32;
        let run_end = (mask >> 1) as usize;
        while i > run_end {
            let value = (bits.next_u32() & mask) as usize;
            let accepted = value <= i;
            let j = if accepted { value } else { i };
            values.swap(i, j);
            i -= usize::from(accepted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts up from `next`, by `step`, and records each draw's width.
    struct Counter {
        next: u64,
        step: u64,
        draws: Vec<u8>,
    }

    impl Counter {
        fn new(next: u64, step: u64) -> Self {
            Counter {
                next,
                step,
                draws: Vec::new(),
            }
        }

        fn take(&mut self) -> u64 {
            let value = self.next;
            self.next = self.next.wrapping_add(self.step);
            value
        }
    }

    impl BitSource for Counter {
        fn next_u32(&mut self) -> u32 {
            self.draws.push(32);
            self.take() as u32
        }

        fn next_u64(&mut self) -> u64 {
            self.draws.push(64);
            self.take()
        }
    }

    /// The draws given in order, as 32 or 64 bits alike.
    struct Scripted(std::collections::VecDeque<u64>);

    impl BitSource for Scripted {
        fn next_u32(&mut self) -> u32 {
            self.0.pop_front().expect("the script ran out") as u32
        }

        fn next_u64(&mut self) -> u64 {
            self.0.pop_front().expect("the script ran out")
        }
    }

    fn scripted(draws: &[u64]) -> Scripted {
        Scripted(draws.iter().copied().collect())
    }

    /// numpy's own spelling of the mask, for comparison.
    fn or_shift_mask(max: u64) -> u64 {
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        mask
    }

    #[test]
    fn mask_is_the_smallest_all_ones_mask_at_least_max() {
        assert_eq!(mask(0), 0);
        assert_eq!(mask(1), 1);
        assert_eq!(mask(2), 3);
        assert_eq!(mask(441), 511);
        assert_eq!(mask(512), 1023);
        assert_eq!(mask(u64::MAX), u64::MAX);
        let mut max = 1u64;
        while max != 0 {
            for m in [max - 1, max, max + 1, max.wrapping_mul(3) / 2] {
                assert_eq!(mask(m), or_shift_mask(m), "max = {m}");
            }
            max <<= 1;
        }
    }

    #[test]
    fn interval_values_never_exceed_max() {
        for max in (0..300).chain([u32::MAX as u64 - 1, u32::MAX as u64]) {
            let mut bits = Counter::new(0x9e37_79b9, 0x6a09_e667_f3bc_c909);
            for _ in 0..50 {
                assert!(random_interval(&mut bits, max) <= max);
            }
        }
    }

    #[test]
    fn zero_needs_no_draw() {
        let mut bits = Counter::new(0, 1);
        assert_eq!(random_interval(&mut bits, 0), 0);
        assert!(bits.draws.is_empty());
    }

    #[test]
    fn draws_above_max_are_rejected_after_masking() {
        // max 5, mask 7: 6 and 7 are rejected, the high bits are masked off.
        let mut bits = scripted(&[6, 7, 0xffff_fff8 | 6, 0x100 | 3]);
        assert_eq!(random_interval(&mut bits, 5), 3);
        assert!(bits.0.is_empty(), "every draw was used");
    }

    #[test]
    fn a_max_of_32_bits_draws_32_bits() {
        let mut bits = Counter::new(u32::MAX as u64, 0);
        assert_eq!(random_interval(&mut bits, u32::MAX as u64), u32::MAX as u64);
        assert_eq!(bits.draws, [32]);
    }

    #[test]
    fn a_max_above_32_bits_draws_64_bits() {
        let max = (1u64 << 40) + 5;
        // Masked to 41 bits: the first is above max, the second is not.
        let first = (1u64 << 63) | (1u64 << 40) | 6;
        let second = (1u64 << 62) | (1u64 << 40) | 4;
        let mut bits = scripted(&[first, second]);
        assert_eq!(random_interval(&mut bits, max), (1u64 << 40) | 4);

        let mut bits = Counter::new(1 << 33, 1 << 35);
        let value = random_interval(&mut bits, 1 << 34);
        assert!(value <= 1 << 34);
        assert!(bits.draws.iter().all(|&width| width == 64));
    }

    #[test]
    fn empty_and_single_arrays_draw_nothing() {
        let mut bits = Counter::new(0, 1);
        let mut empty: [i64; 0] = [];
        shuffle(&mut empty, &mut bits);
        let mut one = [7i64];
        shuffle(&mut one, &mut bits);
        assert_eq!(one, [7]);
        assert!(bits.draws.is_empty());
    }

    #[test]
    fn shuffle_swaps_from_the_end_with_each_draw() {
        // i = 3: j = 1; i = 2: 3 is rejected (mask 3), j = 2; i = 1: j = 0.
        let mut values = [10, 11, 12, 13];
        shuffle(&mut values, &mut scripted(&[1, 3, 2, 0]));
        assert_eq!(values, [13, 10, 12, 11]);
    }

    #[test]
    fn shuffle_is_a_permutation_with_32_bit_draws() {
        let mut values: Vec<i64> = (0..1000).collect();
        let mut bits = Counter::new(12345, 0x9e37_79b9_7f4a_7c15);
        shuffle(&mut values, &mut bits);
        assert!(bits.draws.len() >= 999);
        assert!(bits.draws.iter().all(|&width| width == 32));
        assert_ne!(values, (0..1000).collect::<Vec<_>>());
        values.sort_unstable();
        assert_eq!(values, (0..1000).collect::<Vec<_>>());
    }

    /// The walk as numpy writes it, one `random_interval` per index.
    fn reference_shuffle<T, B: BitSource>(values: &mut [T], bits: &mut B) {
        for i in (1..values.len()).rev() {
            let j = random_interval(bits, i as u64) as usize;
            values.swap(i, j);
        }
    }

    #[test]
    fn shuffle_makes_numpys_draws_and_swaps() {
        for n in [0usize, 1, 2, 3, 4, 5, 17, 64, 65, 442, 1000, 4097] {
            for seed in [0u64, 1, 0xdead_beef, u64::MAX] {
                let step = 0x9e37_79b9_7f4a_7c15 ^ seed.rotate_left(17);
                let mut expected: Vec<usize> = (0..n).collect();
                let mut reference = Counter::new(seed, step);
                reference_shuffle(&mut expected, &mut reference);
                let mut values: Vec<usize> = (0..n).collect();
                let mut bits = Counter::new(seed, step);
                shuffle(&mut values, &mut bits);
                assert_eq!(values, expected, "n = {n}, seed = {seed}");
                assert_eq!(bits.draws, reference.draws, "n = {n}, seed = {seed}");
                assert_eq!(bits.next, reference.next);
            }
        }
    }

    #[test]
    fn shuffle_equals_indexing_by_the_shuffled_range() {
        // Shuffling the data directly gives data[permutation], where the
        // permutation is arange shuffled with the same draws.
        let data: Vec<i64> = (0..50).map(|i| (i * 37 + 11) % 101).collect();
        let mut permutation: Vec<usize> = (0..50).collect();
        shuffle(
            &mut permutation,
            &mut Counter::new(7, 0x2545_f491_4f6c_dd1d),
        );
        let mut shuffled = data.clone();
        shuffle(&mut shuffled, &mut Counter::new(7, 0x2545_f491_4f6c_dd1d));
        let indexed: Vec<i64> = permutation.iter().map(|&p| data[p]).collect();
        assert_eq!(shuffled, indexed);
    }
}
