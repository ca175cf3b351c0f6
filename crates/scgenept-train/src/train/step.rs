//! One batch through the network: the loss and gradients of a training step
//! (split into micro-batches and accumulated, equal to the whole batch's); and the backend seed
//! of each step.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

use scgenept_data::batches::Batch;
use scgenept_model::vocab::VocabMapping;
use scgenept_model::ScGenePT;

use crate::train::inputs::{batch_target, CellInputs};

/// The network's MSE on `examples` of a batch (mean over cells and genes).
pub fn batch_loss<B: Backend>(
    model: &ScGenePT<B>,
    b: &Batch,
    examples: std::ops::Range<usize>,
    mapping: &VocabMapping,
    device: &B::Device,
) -> Tensor<B, 1> {
    let out = CellInputs::from_batch(b, examples.clone(), mapping).forward(model, device);
    (out - batch_target(b, examples, device))
        .powf_scalar(2.0)
        .mean()
}

/// Loss and gradients of one batch, split into micro-batches whose gradients are accumulated with
/// weights n_i / n, so the result equals the unsplit batch's (mean over all positions).
pub fn batch_grads<B: AutodiffBackend>(
    model: &ScGenePT<B>,
    b: &Batch,
    micro: usize,
    mapping: &VocabMapping,
    device: &B::Device,
) -> (f64, GradientsParams) {
    let n = b.len();
    let mut acc = GradientsAccumulator::<ScGenePT<B>>::new();
    let mut loss_sum = 0.0;
    for start in (0..n).step_by(micro.max(1)) {
        let range = start..(start + micro).min(n);
        let w = range.len() as f64 / n as f64;
        let loss = batch_loss(model, b, range, mapping, device);
        let l: f64 = loss.clone().into_scalar().elem::<f64>();
        loss_sum += l * w;
        let grads = GradientsParams::from_grads(loss.mul_scalar(w).backward(), model);
        acc.accumulate(model, grads);
    }
    (loss_sum, acc.grads())
}

/// The backend seed of one step: dropout masks depend on (seed, epoch, batch) only, so a resumed
/// run draws the same masks.
pub fn step_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((epoch as u64) << 32) ^ batch as u64
}
