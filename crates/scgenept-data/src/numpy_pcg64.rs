//! numpy's `Generator(PCG64)`, as far as cell-eval2's vcc2026 scale needs it:
//! `np.random.default_rng(seed)`, `SeedSequence(seed).generate_state(n)`, `integers(0, n)` and
//! `permutation(array)`. The baseline arm resamples control cells with `integers`, the replicate
//! anchor splits each group with `permutation`, and the anchor's five seeds come from
//! `SeedSequence(0)`: a score equal to the reference's needs these exact draws.

/// `SeedSequence`'s pool of four 32-bit words, mixed from the seed's words.
pub struct SeedSequence {
    pool: [u32; 4],
}

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;

impl SeedSequence {
    /// `SeedSequence(seed)` for a non-negative integer seed (its 32-bit words, low first).
    pub fn new(seed: u64) -> SeedSequence {
        let words: Vec<u32> = match seed {
            0 => vec![0],
            s if s >> 32 == 0 => vec![s as u32],
            s => vec![s as u32, (s >> 32) as u32],
        };
        let mut hash = INIT_A;
        let mut hashmix = |value: u32| {
            let mut v = value ^ hash;
            hash = hash.wrapping_mul(MULT_A);
            v = v.wrapping_mul(hash);
            v ^ (v >> XSHIFT)
        };
        let mix = |x: u32, y: u32| {
            let r = MIX_MULT_L
                .wrapping_mul(x)
                .wrapping_sub(MIX_MULT_R.wrapping_mul(y));
            r ^ (r >> XSHIFT)
        };
        let mut pool = [0u32; 4];
        for (i, p) in pool.iter_mut().enumerate() {
            *p = hashmix(words.get(i).copied().unwrap_or(0));
        }
        for src in 0..4 {
            for dst in 0..4 {
                if src != dst {
                    let v = hashmix(pool[src]);
                    pool[dst] = mix(pool[dst], v);
                }
            }
        }
        for &w in words.iter().skip(4) {
            for p in pool.iter_mut() {
                let v = hashmix(w);
                *p = mix(*p, v);
            }
        }
        SeedSequence { pool }
    }

    /// `generate_state(n)` as 32-bit words.
    pub fn generate_state(&self, n: usize) -> Vec<u32> {
        let mut hash = INIT_B;
        (0..n)
            .map(|i| {
                let mut v = self.pool[i % 4] ^ hash;
                hash = hash.wrapping_mul(MULT_B);
                v = v.wrapping_mul(hash);
                v ^ (v >> XSHIFT)
            })
            .collect()
    }
}

const PCG_MULT: u128 = (2_549_297_995_355_413_924u128 << 64) + 4_865_540_595_714_422_341;

/// PCG64 (XSL-RR 128/64) with numpy's buffered 32-bit draws.
pub struct Pcg64 {
    state: u128,
    inc: u128,
    /// The upper half of the last 64-bit draw, not yet used by a 32-bit draw.
    spare: Option<u32>,
}

impl Pcg64 {
    /// `np.random.default_rng(seed)`.
    pub fn seed(seed: u64) -> Pcg64 {
        let w = SeedSequence::new(seed).generate_state(8);
        let word = |i: usize| (w[2 * i] as u64) | ((w[2 * i + 1] as u64) << 32);
        let init_state = ((word(0) as u128) << 64) | word(1) as u128;
        let init_seq = ((word(2) as u128) << 64) | word(3) as u128;
        let mut g = Pcg64 {
            state: 0,
            inc: (init_seq << 1) | 1,
            spare: None,
        };
        g.step();
        g.state = g.state.wrapping_add(init_state);
        g.step();
        g
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let s = self.state;
        (((s >> 64) as u64) ^ (s as u64)).rotate_right((s >> 122) as u32)
    }

    pub fn next_u32(&mut self) -> u32 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let next = self.next_u64();
        self.spare = Some((next >> 32) as u32);
        next as u32
    }

    /// `integers(0, n)` (int64): Lemire's bounded draw from 32-bit words. `n` must be below 2³².
    pub fn integers(&mut self, n: u64) -> u64 {
        assert!(
            n > 0 && n <= 1 << 32,
            "integers(0, n) is implemented for 0 < n ≤ 2³²"
        );
        let rng = n - 1;
        if rng == 0 {
            return 0;
        }
        if rng == u32::MAX as u64 {
            return self.next_u32() as u64;
        }
        let excl = n;
        let mut m = self.next_u32() as u64 * excl;
        let mut leftover = m & 0xffff_ffff;
        if leftover < excl {
            let threshold = (u32::MAX as u64 - rng) % excl;
            while leftover < threshold {
                m = self.next_u32() as u64 * excl;
                leftover = m & 0xffff_ffff;
            }
        }
        m >> 32
    }

    /// A value in `0..=max` by bit-mask rejection (numpy's `random_interval`).
    fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        loop {
            let v = match max <= u32::MAX as u64 {
                true => self.next_u32() as u64 & mask,
                false => self.next_u64() & mask,
            };
            if v <= max {
                return v;
            }
        }
    }

    /// `permutation(items)`: a Fisher-Yates shuffle of a copy, from the last item down.
    pub fn permutation<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        let mut out = items.to_vec();
        for i in (1..out.len()).rev() {
            let j = self.random_interval(i as u64) as usize;
            out.swap(i, j);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values numpy 2.x printed: `SeedSequence(0).generate_state(5)`,
    /// `default_rng(0).integers(0, 1000, size=4)`.
    #[test]
    fn draws_equal_numpys() {
        let s = SeedSequence::new(0).generate_state(5);
        assert_eq!(
            s,
            [2968811710, 3677149159, 745650761, 2884920346, 2642120001]
        );
        let mut g = Pcg64::seed(0);
        for _ in 0..4 {
            g.integers(1);
        }
        let seven: Vec<u64> = (0..4).map(|_| g.integers(7)).collect();
        assert_eq!(seven, [5, 4, 3, 1]);
    }
}
