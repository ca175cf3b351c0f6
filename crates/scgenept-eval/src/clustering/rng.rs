//! The random numbers igraph's Leiden draws under scanpy (docs/evaluation.md, "clustering
//! agreement"): scanpy seeds numpy's legacy `RandomState(0)` (MT19937) for each clustering and
//! hands it to igraph, whose C core asks it for 32 random bits (`getrandbits(32)`, which scanpy
//! answers with `tomaxint() & 0xffffffff`) or a uniform double (`random()`).

use scgenept_data::numpy_rng::LegacyRandomState;

/// igraph's draws (its `random.c`) through scanpy's bridge to numpy's `RandomState`.
pub struct IgraphRng(LegacyRandomState);

impl IgraphRng {
    /// What scanpy installs for one clustering: `RandomState(0)`.
    pub fn scanpy() -> IgraphRng {
        IgraphRng(LegacyRandomState::seed(0))
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
