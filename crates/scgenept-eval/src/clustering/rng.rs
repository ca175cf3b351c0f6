//! The random numbers igraph's Leiden draws under scanpy (docs/evaluation.md, "clustering
//! agreement"): scanpy seeds numpy's legacy `RandomState(0)` (MT19937) for each clustering and
//! hands it to igraph, whose C core asks it for 32 random bits (`getrandbits(32)`, which scanpy
//! answers with `tomaxint() & 0xffffffff`) or a uniform double (`random()`).

const N: usize = 624;
const M: usize = 397;

/// numpy's `RandomState(seed)`: MT19937 seeded as `init_genrand(seed)`.
pub struct NumpyRandomState {
    mt: [u32; N],
    pos: usize,
}

impl NumpyRandomState {
    pub fn new(seed: u32) -> NumpyRandomState {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            let prev = mt[i - 1];
            mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        NumpyRandomState { mt, pos: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % N] & 0x7fff_ffff);
            let mut next = self.mt[(i + M) % N] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= 0x9908_b0df;
            }
            self.mt[i] = next;
        }
        self.pos = 0;
    }

    /// The next 32-bit output (tempered).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
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

    /// `random()`: 53 random bits from two outputs.
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

/// igraph's draws (its `random.c`) through scanpy's bridge to [`NumpyRandomState`].
pub struct IgraphRng(NumpyRandomState);

impl IgraphRng {
    /// What scanpy installs for one clustering: `RandomState(0)`.
    pub fn scanpy() -> IgraphRng {
        IgraphRng(NumpyRandomState::new(0))
    }

    fn bits32(&mut self) -> u32 {
        (self.0.tomaxint() & 0xffff_ffff) as u32
    }

    /// `RNG_INTEGER(l, h)`: uniform on `l..=h`, by Lemire's debiased multiplication.
    pub fn integer(&mut self, l: usize, h: usize) -> usize {
        if h == l {
            return l;
        }
        let range = (h - l + 1) as u32;
        let t = range.wrapping_neg() % range;
        loop {
            let m = self.bits32() as u64 * range as u64;
            if (m as u32) >= t {
                return l + (m >> 32) as usize;
            }
        }
    }

    /// `RNG_UNIF(l, h)`: uniform on `[l, h)`.
    pub fn unif(&mut self, l: f64, h: f64) -> f64 {
        if l == h {
            return h;
        }
        loop {
            let r = self.0.random() * (h - l) + l;
            if r != h {
                return r;
            }
        }
    }

    /// `igraph_vector_int_shuffle`: Fisher–Yates from the back.
    pub fn shuffle(&mut self, v: &mut [usize]) {
        let mut n = v.len();
        while n > 1 {
            let k = self.integer(0, n - 1);
            n -= 1;
            v.swap(n, k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy 2.4: `rs = np.random.RandomState(0)`; `[rs.tomaxint() for _ in range(3)]`, then
    /// `rs.random()`.
    #[test]
    fn equals_numpy_random_state() {
        let mut rs = NumpyRandomState::new(0);
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
