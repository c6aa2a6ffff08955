// SPDX-License-Identifier: GPL-2.0

//! A tiny deterministic PRNG (xorshift64*) for the randomized tests, so that
//! the test crate needs no dependencies and every run checks the same cases.

/// xorshift64* generator state (never zero).
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (0 is replaced by a fixed constant).
    pub(crate) fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value uniformly-ish distributed in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }

    /// A random element of `items`.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // CAST: the index is below items.len(), a usize.
        items[self.range(0, items.len() as u64 - 1) as usize]
    }
}
