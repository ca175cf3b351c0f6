//! Mini-batches as scGenePT builds them (docs/reference.md §2.2): a fresh random subset of
//! `max_seq_len` genes per batch, shared by the batch, in random order; inputs are the paired
//! control cell's values, targets the perturbed cell's, flags 1 at every perturbed gene.
//!
//! `GeneSampling::Reference` reproduces the reference exactly, including its flaw (scGPT #298: the
//! perturbed gene is in the sampled 1,536 of ~5,000 only ~30% of the time, so most perturbed
//! examples carry all-zero flags). `IncludePerturbed` (default) always puts the batch's perturbed
//! genes in the subset and fills the rest at random. Evaluation uses all genes.
//!
//! Every batch is a pure function of (seed, epoch, batch index), so a resumed run sees the same
//! batches, and a [`BatchLoader`] thread can build them ahead of the trainer.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::pairing::{Example, PairedSet};
use crate::perturb_data::PerturbData;

/// How the per-batch gene subset is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneSampling {
    /// `torch.randperm(G)[:max_seq_len]`, as the reference.
    Reference,
    /// The same, but the batch's perturbed genes are always included.
    IncludePerturbed,
    /// Every gene, in dataset order (evaluation).
    All,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchConfig {
    pub batch_size: usize,
    pub max_seq_len: usize,
    pub sampling: GeneSampling,
    pub shuffle: bool,
    pub drop_last: bool,
    pub seed: u64,
}

/// One batch, row-major `[batch, seq_len]` arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub epoch: usize,
    pub index: usize,
    /// Dataset gene positions of the sequence (shared by the batch).
    pub genes: Vec<u32>,
    /// Paired control expression.
    pub values: Vec<f32>,
    /// 1 at perturbed genes, else 0.
    pub flags: Vec<u8>,
    /// Perturbed cell expression.
    pub target: Vec<f32>,
    pub examples: Vec<Example>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    pub fn seq_len(&self) -> usize {
        self.genes.len()
    }
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The example order of one epoch, cut into batches.
pub fn epoch_plan(set: &PairedSet, cfg: &BatchConfig, epoch: usize) -> Vec<Vec<Example>> {
    let mut order = set.examples.clone();
    if cfg.shuffle {
        order.shuffle(&mut StdRng::seed_from_u64(mix(
            cfg.seed,
            epoch as u64,
            u64::MAX,
        )));
    }
    let mut batches: Vec<Vec<Example>> = order
        .chunks(cfg.batch_size.max(1))
        .map(<[_]>::to_vec)
        .collect();
    if cfg.drop_last && batches.last().is_some_and(|b| b.len() < cfg.batch_size) {
        batches.pop();
    }
    batches
}

/// Builds batch `index` of `epoch` from its examples: the batch's gene subset, then the gather.
pub fn build_batch(
    data: &PerturbData,
    pert_genes: &[Vec<u32>],
    examples: Vec<Example>,
    cfg: &BatchConfig,
    epoch: usize,
    index: usize,
) -> Batch {
    let genes = batch_genes(data.n_genes(), pert_genes, &examples, cfg, epoch, index);
    gather_batch(data, pert_genes, examples, genes, (epoch, index))
}

/// The dataset genes of batch `index` of `epoch`, in sequence order.
fn batch_genes(
    g: usize,
    pert_genes: &[Vec<u32>],
    examples: &[Example],
    cfg: &BatchConfig,
    epoch: usize,
    index: usize,
) -> Vec<u32> {
    let mut rng = StdRng::seed_from_u64(mix(cfg.seed, epoch as u64, index as u64));
    if cfg.sampling == GeneSampling::All || g <= cfg.max_seq_len {
        (0..g as u32).collect()
    } else {
        let mut perm: Vec<u32> = (0..g as u32).collect();
        perm.shuffle(&mut rng);
        if cfg.sampling == GeneSampling::IncludePerturbed {
            let mut must: Vec<u32> = examples
                .iter()
                .flat_map(|e| pert_genes[e.condition as usize].iter().copied())
                .collect();
            must.sort_unstable();
            must.dedup();
            must.truncate(cfg.max_seq_len);
            let mut chosen = must.clone();
            chosen.extend(
                perm.into_iter()
                    .filter(|j| must.binary_search(j).is_err())
                    .take(cfg.max_seq_len - must.len()),
            );
            chosen.shuffle(&mut rng);
            chosen
        } else {
            perm.truncate(cfg.max_seq_len);
            perm
        }
    }
}

/// The batch of `examples` over `genes` (dataset positions, in sequence order): inputs from each
/// example's control cell, targets from its perturbed cell, flags at its condition's genes
/// (docs/reference.md §2.2, steps 1 and 4). `build_batch` chooses the genes; the training-parity
/// test gives the reference's.
pub fn gather_batch(
    data: &PerturbData,
    pert_genes: &[Vec<u32>],
    examples: Vec<Example>,
    genes: Vec<u32>,
    (epoch, index): (usize, usize),
) -> Batch {
    let g = data.n_genes();
    let l = genes.len();
    let mut position = vec![u32::MAX; g];
    for (p, j) in genes.iter().enumerate() {
        position[*j as usize] = p as u32;
    }
    let cols: Vec<usize> = genes.iter().map(|j| *j as usize).collect();
    let mut scratch = vec![0f32; g];
    let (mut values, mut target) = (
        vec![0f32; examples.len() * l],
        vec![0f32; examples.len() * l],
    );
    let mut flags = vec![0u8; examples.len() * l];
    for (b, e) in examples.iter().enumerate() {
        data.x.gather_row(
            e.control as usize,
            &mut scratch,
            &cols,
            &mut values[b * l..(b + 1) * l],
        );
        data.x.gather_row(
            e.cell as usize,
            &mut scratch,
            &cols,
            &mut target[b * l..(b + 1) * l],
        );
        for j in &pert_genes[e.condition as usize] {
            let p = position[*j as usize];
            if p != u32::MAX {
                flags[b * l + p as usize] = 1;
            }
        }
    }
    Batch {
        epoch,
        index,
        genes,
        values,
        flags,
        target,
        examples,
    }
}

/// Flag positions (dataset gene indices) of each condition.
pub fn condition_pert_genes(data: &PerturbData) -> Vec<Vec<u32>> {
    data.conditions
        .iter()
        .map(|c| {
            data.pert_gene_indices(c)
                .into_iter()
                .map(|j| j as u32)
                .collect()
        })
        .collect()
}

/// Builds an epoch's batches on a background thread, `prefetch` ahead of the consumer. Starting at
/// `first_batch` skips batches already trained on (resume).
pub struct BatchLoader {
    rx: Receiver<Batch>,
    pub n_batches: usize,
    /// Batches not yet received.
    left: usize,
}

impl BatchLoader {
    pub fn spawn(
        data: Arc<PerturbData>,
        set: Arc<PairedSet>,
        cfg: BatchConfig,
        epoch: usize,
        first_batch: usize,
        prefetch: usize,
    ) -> Self {
        let plan = epoch_plan(&set, &cfg, epoch);
        let n_batches = plan.len();
        let (tx, rx) = sync_channel(prefetch.max(1));
        std::thread::Builder::new()
            .name("scgenept-batches".into())
            .spawn(move || {
                let pert_genes = condition_pert_genes(&data);
                for (i, examples) in plan.into_iter().enumerate().skip(first_batch) {
                    let batch = build_batch(&data, &pert_genes, examples, &cfg, epoch, i);
                    if tx.send(batch).is_err() {
                        return; // the consumer stopped early
                    }
                }
            })
            .expect("spawn the batch thread");
        Self {
            rx,
            n_batches,
            left: n_batches.saturating_sub(first_batch),
        }
    }
}

impl Iterator for BatchLoader {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        let b = self.rx.recv().ok()?;
        self.left -= 1;
        Some(b)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for BatchLoader {}
