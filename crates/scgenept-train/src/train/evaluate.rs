//! The model without gradients: the validation loss of an epoch, and the mean predicted
//! expression of each test condition over all genes.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::ElementConversion;

use scgenept_data::batches::{
    build_batch, condition_pert_genes, Batch, BatchConfig, BatchLoader, GeneSampling,
};
use scgenept_data::csr::CsrMatrix;
use scgenept_data::pairing::PairedSet;
use scgenept_data::PerturbData;
use scgenept_eval::run_cells::PredictedCells;
use scgenept_model::vocab::VocabMapping;
use scgenept_model::ScGenePT;

use crate::train::inputs::CellInputs;
use crate::train::prepare::Prepared;
use crate::train::step::batch_loss;

/// Mean MSE over a split's batches (same gene sampling as training; no gradients).
pub fn eval_loss<B: Backend>(
    model: &ScGenePT<B>,
    data: &Arc<PerturbData>,
    set: &Arc<PairedSet>,
    cfg: BatchConfig,
    epoch: usize,
    mapping: &VocabMapping,
    device: &B::Device,
) -> f64 {
    let batches = BatchLoader::spawn(data.clone(), set.clone(), cfg, epoch, 0, 2);
    mean_loss(model, batches, mapping, device)
}

/// The mean over batches of each batch's MSE, as the reference's `evaluate` averages it.
pub fn mean_loss<B: Backend>(
    model: &ScGenePT<B>,
    batches: impl IntoIterator<Item = Batch>,
    mapping: &VocabMapping,
    device: &B::Device,
) -> f64 {
    let mut losses = Vec::new();
    for b in batches {
        let loss = batch_loss(model, &b, 0..b.len(), mapping, device);
        losses.push(loss.into_scalar().elem::<f64>());
    }
    losses.iter().sum::<f64>() / losses.len().max(1) as f64
}

/// Mean predicted expression per test condition over all genes (each cell from its paired control).
pub fn predict_test<B: Backend>(
    model: &ScGenePT<B>,
    p: &Prepared,
    eval_batch: usize,
    device: &B::Device,
    keep_cells: bool,
) -> (BTreeMap<String, Vec<f64>>, Option<PredictedCells>) {
    let mut cells = keep_cells.then(|| PredictedCells {
        x: CsrMatrix::with_cols(p.test_data.n_genes()),
        labels: Vec::new(),
    });
    let means = predict_means(
        model,
        &p.test_data,
        &p.test,
        &p.mapping,
        eval_batch,
        device,
        cells.as_mut(),
    );
    (means, cells)
}

/// Mean predicted expression per condition of `set` over all genes, in batches of `eval_batch`
/// cells in the set's order (the reference's test loader: no shuffling, every gene); every
/// predicted cell also goes to `cells` when given.
pub fn predict_means<B: Backend>(
    model: &ScGenePT<B>,
    data: &PerturbData,
    set: &PairedSet,
    mapping: &VocabMapping,
    eval_batch: usize,
    device: &B::Device,
    mut cells: Option<&mut PredictedCells>,
) -> BTreeMap<String, Vec<f64>> {
    let pert = condition_pert_genes(data);
    let cfg = BatchConfig {
        batch_size: eval_batch,
        max_seq_len: usize::MAX,
        sampling: GeneSampling::All,
        shuffle: false,
        drop_last: false,
        seed: 0,
    };
    let g = data.n_genes();
    let mut sums: BTreeMap<u32, (Vec<f64>, usize)> = BTreeMap::new();
    for (i, chunk) in set.examples.chunks(eval_batch).enumerate() {
        let b = build_batch(data, &pert, chunk.to_vec(), &cfg, 0, i);
        let out: Vec<f32> = CellInputs::from_batch(&b, 0..b.len(), mapping)
            .forward(model, device)
            .into_data()
            .convert::<f32>()
            .into_vec()
            .expect("f32 output");
        for (r, e) in b.examples.iter().enumerate() {
            if let Some(c) = cells.as_deref_mut() {
                c.x.push_dense_row(&out[r * g..(r + 1) * g]);
                c.labels.push(data.conditions[e.condition as usize].clone());
            }
            let entry = sums.entry(e.condition).or_insert_with(|| (vec![0.0; g], 0));
            entry
                .0
                .iter_mut()
                .zip(&out[r * g..(r + 1) * g])
                .for_each(|(s, v)| *s += *v as f64);
            entry.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (s, n))| {
            (
                data.conditions[k as usize].clone(),
                s.into_iter().map(|v| v / n as f64).collect(),
            )
        })
        .collect()
}
