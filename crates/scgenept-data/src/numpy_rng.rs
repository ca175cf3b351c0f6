//! numpy's legacy `RandomState` (MT19937), as far as GEARS' split and scanpy's Leiden need it:
//! `np.random.seed(int)`, `np.random.choice(a, k, replace=False)`, `tomaxint()` and `random()`.
//!
//! GEARS draws its train genes and seen-combo pairs with the global numpy RNG, so the published
//! splits are reproducible only with this exact generator and this exact sampling algorithm
//! (`choice` without replacement = a Fisher–Yates `permutation` prefix with bit-mask rejection).
//! Anything else — even another correct MT19937 consumer — gives a different split.

const N: usize = 624;
const M: usize = 397;

/// The legacy numpy generator. Only the draws GEARS and scanpy make are implemented.
#[derive(Clone)]
pub struct LegacyRandomState {
    mt: [u32; N],
    pos: usize,
}

impl LegacyRandomState {
    /// `np.random.seed(seed)` for an integer seed (`mt19937_seed`: Knuth's init_genrand).
    pub fn seed(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { mt, pos: N }
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.mt[i] & UPPER) | (self.mt[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[i] = self.mt[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// One tempered 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.generate();
        }
        let mut y = self.mt[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `tomaxint()` on a 64-bit platform: a 64-bit draw (first output high) shifted right once.
    pub fn tomaxint(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        ((hi << 32) | lo) >> 1
    }

    /// `random()`: a double in [0, 1) from 53 random bits of two outputs.
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// Uniform integer in `[0, max]` by bit-mask rejection (`random_interval`).
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> s;
        }
        if max <= u32::MAX as u64 {
            loop {
                let v = self.next_u32() as u64 & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let hi = self.next_u32() as u64;
            let lo = self.next_u32() as u64;
            let v = ((hi << 32) | lo) & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `np.random.permutation(n)`: legacy in-place shuffle of `arange(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.random_interval(i as u64) as usize;
            v.swap(i, j);
        }
        v
    }

    /// `np.random.choice(items, k, replace=False)`: the first `k` of a permutation.
    pub fn choice_without_replacement<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        assert!(k <= items.len(), "choice: k larger than population");
        self.permutation(items.len())
            .into_iter()
            .take(k)
            .map(|i| items[i].clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference MT19937 stream for its default seed 5489; numpy's own draws are compared in
    /// `tests/gears_split.rs` against values numpy printed.
    #[test]
    fn canonical_first_output() {
        let mut r = LegacyRandomState::seed(5489);
        assert_eq!(r.next_u32(), 3_499_211_612);
        assert_eq!(r.next_u32(), 581_869_302);
    }

    /// numpy 2.4: `rs = np.random.RandomState(0)`; `[rs.tomaxint() for _ in range(3)]`, then
    /// `rs.random()`.
    #[test]
    fn equals_numpy_random_state() {
        let mut rs = LegacyRandomState::seed(0);
        let ints: Vec<u64> = (0..3).map(|_| rs.tomaxint()).collect();
        assert_eq!(ints, NUMPY_TOMAXINT);
        assert_eq!(rs.random(), NUMPY_RANDOM_AFTER);
    }

    const NUMPY_TOMAXINT: [u64; 3] = [
        5_061_911_111_874_532_631,
        6_596_457_591_747_962_464,
        5_559_510_817_026_681_213,
    ];
    const NUMPY_RANDOM_AFTER: f64 = 0.544_883_182_996_896_9;
}
