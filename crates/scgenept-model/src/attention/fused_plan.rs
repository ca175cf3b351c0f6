//! The fused attention's plan (`attention/fused/`): which kernels run a call ([`Kernels`]), how
//! many rows a cube of the portable kernels stages, and the tile kernels' shape. Plain choices
//! and arithmetic on a device's limits, outside the `cube` feature, so that the default build's
//! tests check them and the memory plan can name the choice.

/// How every refusal of a kernel choice begins: a forced choice the device cannot run ends the
/// process from inside a kernel launch, and the CLI's panic hook prints such a message as the
/// user's error it is, not as an internal failure.
pub const REFUSED: &str = "SCGENEPT_FUSED_KERNELS";

/// Which kernels run the fused attention (docs/attention.md, "Tensor-core kernels").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// Tensor cores where the device has them for the storage type (CUDA, bf16 or f16) and the
    /// head width is a multiple of 16; the portable kernels everywhere else.
    Auto,
    /// One unit per row, f32 sums (`kernels.rs`): every device, every storage type.
    Portable,
    /// The tile kernels (`fused/tiles/`) with each 16 × 16 product done by the plane's units
    /// in f32: every device, every storage type; how CI runs the tile kernels without tensor
    /// cores.
    Tiles,
    /// The tile kernels on tensor cores (`cmma`); a device without them for the storage type
    /// ends the process with one line.
    TensorCores,
}

impl Kernels {
    /// The names `SCGENEPT_FUSED_KERNELS` takes, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["auto", "portable", "tiles", "tensor-cores"];

    /// This variant's name in [`Kernels::NAMES`].
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The variant named `name` (one of [`Kernels::NAMES`]).
    pub fn parse(name: &str) -> Option<Kernels> {
        let all = [Self::Auto, Self::Portable, Self::Tiles, Self::TensorCores];
        Self::NAMES.iter().position(|n| *n == name).map(|i| all[i])
    }

    /// The choice `SCGENEPT_FUSED_KERNELS` names (unset is `auto`), or the one-line error for a
    /// name that is not one of [`Kernels::NAMES`]. The CLI checks it before any command runs.
    pub fn from_env() -> Result<Kernels, String> {
        match std::env::var("SCGENEPT_FUSED_KERNELS") {
            Err(_) => Ok(Kernels::Auto),
            Ok(v) => Kernels::parse(&v).ok_or_else(|| {
                format!(
                    "SCGENEPT_FUSED_KERNELS={v} is not a kernel choice: use one of {}",
                    Self::NAMES.join(", ")
                )
            }),
        }
    }

    /// This process's choice ([`Kernels::from_env`], read once). An unknown name, which the CLI
    /// refuses before it gets here, ends the process.
    pub fn chosen() -> Kernels {
        static CHOSEN: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| Kernels::from_env().unwrap_or_else(|e| panic!("{e}")))
    }
}

/// Rows per block: the largest power of two up to 64 whose staged rows (two `block × dh` tiles
/// plus two `block` vectors, f32) fit the device's shared memory and whose units fit a cube.
pub fn block_rows(dh: usize, shared_bytes: usize, max_units: usize) -> usize {
    let mut block = 64;
    while block > 1 && ((2 * block * dh + 2 * block) * 4 > shared_bytes || block > max_units) {
        block /= 2;
    }
    block
}

/// The tile kernels' shape (`fused/tiles/`): planes of 32 units per cube (16 rows each), rows per
/// staged block of the other side, the head width padded to a multiple of 16, and whether the
/// 16 × 16 products run on tensor cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TilePlan {
    pub planes: usize,
    pub bk: usize,
    pub dp: usize,
    pub tensor_cores: bool,
}

/// The (planes, block) shapes a [`TilePlan`] takes, the preferred first. Unmeasured on a GPU:
/// four planes share each staged block among the most rows.
pub const TILE_SHAPES: [(usize, usize); 4] = [(4, 32), (2, 32), (2, 16), (1, 16)];

impl TilePlan {
    /// The first of [`TILE_SHAPES`] (planes, block) whose cubes fit the
    /// device (`shared_bytes` of shared memory, `max_units` per cube) in all three tile kernels,
    /// for operands of `t_bytes` (the storage type's size); `None` when none fits.
    pub fn new(
        dh: usize,
        t_bytes: usize,
        shared_bytes: usize,
        max_units: usize,
        tensor_cores: bool,
    ) -> Option<TilePlan> {
        let dp = dh.div_ceil(16) * 16;
        TILE_SHAPES
            .into_iter()
            .map(|(planes, bk)| TilePlan {
                planes,
                bk,
                dp,
                tensor_cores,
            })
            .find(|t| t.planes * 32 <= max_units && t.shared_bytes(t_bytes) <= shared_bytes)
    }

    /// The most shared memory any of the three kernels declares, with 32 bytes of alignment per
    /// array (`fused/tiles/`: each kernel's `SharedMemory` arrays, in the order written there).
    pub fn shared_bytes(&self, t_bytes: usize) -> usize {
        let (rows, dp, bk) = (self.planes * 16, self.dp, self.bk);
        let arrays = |t: &[usize], f: &[usize]| -> usize {
            t.iter().map(|n| n * t_bytes + 32).sum::<usize>()
                + f.iter().map(|n| n * 4 + 32).sum::<usize>()
        };
        let forward = arrays(
            &[rows * dp, bk * dp, bk * dp, rows * bk],
            &[rows * bk, rows * dp],
        );
        let dq = arrays(
            &[rows * dp, rows * dp, bk * dp, bk * dp, rows * bk],
            &[rows * bk, rows * bk, rows * dp],
        );
        let dkv = arrays(
            &[rows * dp, rows * dp, bk * dp, bk * dp, rows * bk, rows * bk],
            &[rows * bk, rows * bk, rows * dp, rows * dp, bk, bk],
        );
        forward.max(dq).max(dkv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fit_shared_memory_and_cubes() {
        assert_eq!(block_rows(8, 49152, 1024), 64);
        assert_eq!(block_rows(64, 49152, 1024), 64);
        assert_eq!(block_rows(128, 49152, 1024), 32);
        assert_eq!(block_rows(128, 16384, 1024), 8);
        assert_eq!(block_rows(16, 16384, 32), 32);
        assert_eq!(block_rows(1024, 64, 1024), 1);
    }

    #[test]
    fn kernel_names_parse_back() {
        for name in Kernels::NAMES {
            assert_eq!(Kernels::parse(name).map(Kernels::name), Some(name));
        }
        assert_eq!(Kernels::parse("tensor_cores"), None);
    }

    #[test]
    fn tile_plans_are_the_largest_that_fit() {
        // An H100 (227 KiB per cube), bf16, the paper's head width.
        let h100 = TilePlan::new(64, 2, 232_448, 1024, true).unwrap();
        assert_eq!((h100.planes, h100.bk, h100.dp), (4, 32, 64));
        // Head width 8 is padded to one tile.
        assert_eq!(TilePlan::new(8, 4, 65_536, 1024, false).unwrap().dp, 16);
        for (dh, t, shared, units) in [
            (64, 4, 32_768, 1024),
            (128, 2, 49_152, 128),
            (16, 4, 16_384, 64),
        ] {
            let plan = TilePlan::new(dh, t, shared, units, false).unwrap();
            assert!(plan.shared_bytes(t) <= shared && plan.planes * 32 <= units);
            // Every shape before the chosen one does not fit.
            for (planes, bk) in TILE_SHAPES {
                if (planes, bk) == (plan.planes, plan.bk) {
                    break;
                }
                let earlier = TilePlan { planes, bk, ..plan };
                assert!(earlier.shared_bytes(t) > shared || planes * 32 > units);
            }
        }
        assert_eq!(TilePlan::new(128, 4, 8_192, 1024, false), None);
    }
}
