//! The prediction itself: the control cells it starts from (the bundle's pool or a dataset's
//! controls), which controls each perturbation draws (from the seed and its canonical name, so a
//! perturbation's prediction does not depend on the list it is in), and the batched forwards.
//! What is written is `outputs.rs`; `scgenept predict` on a device is `job.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use scgenept_data::csr::CsrMatrix;
use scgenept_data::h5ad::H5ad;
use scgenept_data::perturb_data::condition_genes;
use scgenept_data::{ObsColumns, PerturbData};
use scgenept_model::host::{host_threads, on_host, with_host_threads};
use scgenept_model::{GeneTerms, ScGenePT};

use crate::infer::bundle::BundleMeta;
use crate::train::inputs::CellInputs;

/// The control cells predictions start from, over the bundle's genes: the controls of the
/// dataset at `dataset` when given, else the pool shipped in the bundle.
pub fn control_cells(
    meta: &BundleMeta,
    bundle: &Path,
    dataset: Option<&Path>,
) -> Result<CsrMatrix> {
    let Some(path) = dataset else {
        return Ok(H5ad::open(&bundle.join("controls.h5ad"))?.read_matrix("X")?);
    };
    let d = PerturbData::load(path, &ObsColumns::default())?;
    let index = d.gene_index();
    let cols: Vec<usize> = meta
        .genes
        .iter()
        .map(|g| {
            index.get(g.as_str()).copied().with_context(|| {
                format!("{}: has no gene {g}, which the model needs", path.display())
            })
        })
        .collect::<Result<_>>()?;
    let cells = &d.cells_by_condition()[d.control_index()];
    let mut scratch = vec![0f32; d.n_genes()];
    let mut rows = Vec::new();
    let mut row = vec![0f32; cols.len()];
    for c in cells {
        d.x.gather_row(*c as usize, &mut scratch, &cols, &mut row);
        rows.extend_from_slice(&row);
    }
    Ok(CsrMatrix::from_dense(cells.len(), cols.len(), &rows))
}

/// How the predictions are drawn: controls per perturbation (with replacement) and the seed.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub size: usize,
    pub seed: u64,
    /// Each perturbation's draws seeded by the seed and its name, instead of one stream over the
    /// list: a perturbation then gets the same controls in any list (the screen's chunks).
    pub per_perturbation: bool,
}

/// FNV-1a of a perturbation's canonical name (`bundle::canonical_condition`): its own draw stream
/// under [`Pool::per_perturbation`], the same in any list and in either order of a pair.
fn name_seed(seed: u64, name: &str) -> u64 {
    let fnv = (crate::infer::bundle::canonical_condition(name).bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
    seed ^ fnv
}

/// What a prediction reads: the model with its bundle's metadata, the control cells it starts
/// from, the perturbations, how controls are drawn, and how many cells one forward takes.
///
/// Prediction follows the reference's `pred_perturb_from_ctrl`: draw `pool.size` controls with
/// replacement, flag the perturbed genes, predict every gene, average. The draws depend only on
/// `pool.seed` and, under [`Pool::per_perturbation`] (`predict` and `screen`), the perturbation's
/// canonical name, else the order of `perts`; each cell's prediction depends only on its own
/// inputs, so the batch size changes speed, not results.
pub struct Prediction<'a, B: Backend> {
    pub model: &'a ScGenePT<B>,
    pub meta: &'a BundleMeta,
    pub controls: &'a CsrMatrix,
    pub perts: &'a [String],
    pub pool: Pool,
    /// Cells per forward (`inference_batch::cells_per_batch` sizes it to the device).
    pub batch: usize,
    pub device: &'a B::Device,
}

impl<B: Backend> Prediction<'_, B> {
    /// Each perturbation's mean prediction over its pool of controls.
    pub fn means(&self) -> Result<Vec<Vec<f64>>> {
        let g = self.meta.genes.len();
        let mut means = Vec::with_capacity(self.perts.len());
        self.cells(|_, cells| {
            let n = cells.len() / g;
            let mut mean = vec![0f64; g];
            for cell in cells.chunks_exact(g) {
                mean.iter_mut()
                    .zip(cell)
                    .for_each(|(m, x)| *m += *x as f64 / n as f64);
            }
            means.push(mean);
        })?;
        Ok(means)
    }

    /// Every predicted cell, per perturbation: `on_cells(index, pool.size × genes values)`, in
    /// the order of `perts`.
    ///
    /// A control drawn twice for one perturbation is predicted once (the forward is
    /// deterministic), batches run across perturbations so small pools still fill them, and on
    /// the CPU one batch per core runs at a time. Returns the number of cells the network ran
    /// (distinct draws).
    pub fn cells(&self, mut on_cells: impl FnMut(usize, &[f32])) -> Result<usize> {
        let (g, controls) = (self.meta.genes.len(), self.controls);
        if controls.n_cols != g || controls.n_rows == 0 {
            bail!(
                "the control cells have {} genes (need {g}) and {} cells",
                controls.n_cols,
                controls.n_rows
            );
        }
        let draws = self.draws();
        let work: Vec<(usize, usize)> = (draws.iter().enumerate())
            .flat_map(|(p, d)| d.unique.iter().map(move |c| (p, *c)))
            .collect();
        let chunks: Vec<&[(usize, usize)]> = work.chunks(self.batch.max(1)).collect();
        let ids: Vec<i64> = self.meta.vocab_ids.iter().map(|i| *i as i64).collect();
        let rows = Tensor::from_data(TensorData::new(ids.clone(), [g]), self.device);
        let terms = self.model.gene_terms(rows)?;
        let inputs = (&ids[..], &self.flagged()[..], &terms);
        let workers = if on_host::<B>() { host_threads() } else { 1 };
        let mut done = Vec::new();
        let mut next = 0;
        // Each wave holds several batches per worker, so a worker that finishes early takes the
        // next one instead of waiting, and the wave's results bound the memory held.
        for wave in chunks.chunks(workers.max(1) * 8) {
            for (chunk, pred) in wave.iter().zip(self.forward_wave(wave, workers, inputs)?) {
                for ((p, _), cell) in chunk.iter().zip(pred.chunks_exact(g)) {
                    done.extend_from_slice(cell);
                    // A perturbation is complete when its last distinct control is predicted.
                    while next < draws.len() && done.len() == draws[next].unique.len() * g {
                        debug_assert!(next <= *p);
                        on_cells(next, &draws[next].expand(&done, g));
                        done.clear();
                        next += 1;
                    }
                }
            }
        }
        Ok(work.len())
    }

    /// Each perturbation's draws of controls, in the order the seed gives them.
    fn draws(&self) -> Vec<Draws> {
        draws(self.perts, self.pool, self.controls.n_rows)
    }

    /// The predictions of a wave of batches, in order: on `workers` host threads taking the
    /// next batch as they finish one (every host kernel inside single-threaded), or one after
    /// another on a device.
    fn forward_wave(
        &self,
        wave: &[&[(usize, usize)]],
        workers: usize,
        inputs: Shared<'_, B>,
    ) -> Result<Vec<Vec<f32>>> {
        if workers < 2 || wave.len() < 2 {
            return wave.iter().map(|c| self.forward_batch(c, inputs)).collect();
        }
        let next = AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Result<Vec<f32>>>>> =
            wave.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..workers.min(wave.len()) {
                s.spawn(|| {
                    with_host_threads(1, || loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(chunk) = wave.get(i) else { break };
                        let out = self.forward_batch(chunk, inputs);
                        *slots[i].lock().expect("slot") = Some(out);
                    })
                });
            }
        });
        (slots.into_iter())
            .map(|s| s.into_inner().expect("slot").expect("every batch ran"))
            .collect()
    }

    /// The network's predictions (`cells × genes`) for `(perturbation, control)` pairs.
    fn forward_batch(
        &self,
        items: &[(usize, usize)],
        (ids, flagged, terms): Shared<'_, B>,
    ) -> Result<Vec<f32>> {
        let g = self.meta.genes.len();
        let mut values = vec![0f32; items.len() * g];
        for ((_, c), row) in items.iter().zip(values.chunks_exact_mut(g)) {
            self.controls.row_into(*c, row);
        }
        let flags: Vec<&[usize]> = items.iter().map(|(p, _)| &flagged[*p][..]).collect();
        let pred = CellInputs::from_controls(ids, values, &flags).try_forward_genes(
            self.model,
            terms,
            self.device,
        )?;
        pred.into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    /// The gene positions each perturbation flags.
    fn flagged(&self) -> Vec<Vec<usize>> {
        let index: BTreeMap<&str, usize> = (self.meta.genes.iter())
            .enumerate()
            .map(|(i, x)| (x.as_str(), i))
            .collect();
        (self.perts.iter())
            .map(|p| {
                (condition_genes(p).iter())
                    .filter_map(|x| index.get(x).copied())
                    .collect()
            })
            .collect()
    }
}

/// Each perturbation's draws from `n` controls: from one stream seeded by `pool.seed` over the
/// list, or under [`Pool::per_perturbation`] from the seed and the perturbation's canonical name.
fn draws(perts: &[String], pool: Pool, n: usize) -> Vec<Draws> {
    let per = pool.size.max(1);
    let mut shared = StdRng::seed_from_u64(pool.seed);
    (perts.iter())
        .map(|p| {
            let mut own;
            let rng = match pool.per_perturbation {
                true => {
                    own = StdRng::seed_from_u64(name_seed(pool.seed, p));
                    &mut own
                }
                false => &mut shared,
            };
            let picks: Vec<usize> = (0..per).map(|_| rng.random_range(0..n)).collect();
            Draws::new(&picks)
        })
        .collect()
}

/// What every batch of a prediction shares: the genes' vocabulary rows, per perturbation the
/// gene positions it flags, and the genes' input terms (`shared_genes.rs`).
type Shared<'s, B> = (&'s [i64], &'s [Vec<usize>], &'s GeneTerms<B>);

/// One perturbation's pool: the distinct controls drawn (first-drawn first) and, per draw, which
/// of them it was.
struct Draws {
    unique: Vec<usize>,
    of_draw: Vec<usize>,
}

impl Draws {
    fn new(picks: &[usize]) -> Self {
        let mut slot: BTreeMap<usize, usize> = BTreeMap::new();
        let mut unique = Vec::new();
        let of_draw = (picks.iter())
            .map(|c| {
                *slot.entry(*c).or_insert_with(|| {
                    unique.push(*c);
                    unique.len() - 1
                })
            })
            .collect();
        Draws { unique, of_draw }
    }

    /// Every draw's predicted cell (`draws × g`) from the distinct controls' (`unique × g`).
    fn expand(&self, distinct: &[f32], g: usize) -> Vec<f32> {
        (self.of_draw.iter())
            .flat_map(|u| &distinct[u * g..(u + 1) * g])
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picks(perts: &[&str], per_perturbation: bool) -> Vec<Vec<usize>> {
        let perts: Vec<String> = perts.iter().map(|p| p.to_string()).collect();
        let pool = Pool {
            size: 50,
            seed: 7,
            per_perturbation,
        };
        (draws(&perts, pool, 300).iter())
            .map(|d| d.of_draw.iter().map(|&u| d.unique[u]).collect())
            .collect()
    }

    #[test]
    fn a_perturbation_draws_the_same_controls_in_any_list_and_either_order() {
        use crate::infer::bundle::canonical_condition;
        assert_eq!(canonical_condition("KLF1"), "KLF1+ctrl");
        assert_eq!(canonical_condition("ctrl+KLF1"), "KLF1+ctrl");
        assert_eq!(canonical_condition("KLF1+CEBPB"), "CEBPB+KLF1");
        let alone = picks(&["KLF1+ctrl"], true);
        let beside = picks(&["CEBPB+ctrl", "KLF1+ctrl"], true);
        assert_eq!(alone[0], beside[1]);
        assert_eq!(picks(&["A+B"], true), picks(&["B+A"], true));
        // `screen` names singles `G+ctrl` and pairs in its gene order: the same draws.
        assert_eq!(picks(&["KLF1"], true), alone);
        // One stream over the list (bench predict): the second entry's draws differ.
        assert_ne!(picks(&["CEBPB+ctrl", "KLF1+ctrl"], false)[1], alone[0]);
    }
}
