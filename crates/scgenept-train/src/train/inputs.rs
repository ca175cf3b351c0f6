//! The network's three inputs for a set of cells (vocabulary ids, expression values,
//! perturbation flags), built in one place and turned into tensors in one place: training and
//! validation batches (`step.rs`, `evaluate.rs`) and prediction from control cells (`bundle.rs`).

use std::ops::Range;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use scgenept_data::batches::Batch;
use scgenept_model::vocab::VocabMapping;
use scgenept_model::{GeneTerms, ScGenePT};

/// `cells × genes` inputs, row-major.
pub struct CellInputs {
    ids: Vec<i64>,
    values: Vec<f32>,
    flags: Vec<i64>,
    shape: [usize; 2],
}

impl CellInputs {
    /// `examples` of a batch: each cell sees the batch's genes (as vocabulary rows), its paired
    /// control's values and its own perturbation flags.
    pub fn from_batch(b: &Batch, examples: Range<usize>, mapping: &VocabMapping) -> Self {
        let l = b.seq_len();
        let n = examples.len();
        let rows = examples.start * l..examples.end * l;
        CellInputs {
            ids: (0..n)
                .flat_map(|_| b.genes.iter().map(|g| mapping.ids[*g as usize] as i64))
                .collect(),
            values: b.values[rows.clone()].to_vec(),
            flags: b.flags[rows].iter().map(|f| *f as i64).collect(),
            shape: [n, l],
        }
    }

    /// Control cells over all of a bundle's genes (`ids`, their vocabulary rows; `values`,
    /// `cells × genes`), cell `r`'s genes at `flagged[r]` marked perturbed.
    pub fn from_controls(ids: &[i64], values: Vec<f32>, flagged: &[&[usize]]) -> Self {
        let g = ids.len();
        let n = values.len() / g.max(1);
        debug_assert_eq!(flagged.len(), n, "one flag list per cell");
        let mut flags = vec![0i64; n * g];
        for (r, genes) in flagged.iter().enumerate() {
            for j in *genes {
                flags[r * g + j] = 1;
            }
        }
        CellInputs {
            ids: (0..n).flat_map(|_| ids.iter().copied()).collect(),
            values,
            flags,
            shape: [n, g],
        }
    }

    /// The three tensors on `device`: ids, values, flags.
    pub fn tensors<B: Backend>(
        self,
        device: &B::Device,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 2>, Tensor<B, 2, Int>) {
        let CellInputs {
            ids,
            values,
            flags,
            shape,
        } = self;
        (
            Tensor::from_data(TensorData::new(ids, shape), device),
            Tensor::from_data(TensorData::new(values, shape), device),
            Tensor::from_data(TensorData::new(flags, shape), device),
        )
    }

    /// The network's predicted expression for these cells, `cells × genes`.
    pub fn forward<B: Backend>(self, model: &ScGenePT<B>, device: &B::Device) -> Tensor<B, 2> {
        let (ids, values, flags) = self.tensors(device);
        model.forward(ids, values, flags)
    }

    /// [`CellInputs::forward`] for cells whose genes are those of `terms`, after the model checks
    /// the inputs (the ids are then the same in every row and are not sent).
    pub fn try_forward_genes<B: Backend>(
        self,
        model: &ScGenePT<B>,
        terms: &GeneTerms<B>,
        device: &B::Device,
    ) -> scgenept_model::Result<Tensor<B, 2>> {
        let values = Tensor::from_data(TensorData::new(self.values, self.shape), device);
        let flags = Tensor::from_data(TensorData::new(self.flags, self.shape), device);
        model.forward_genes(terms, values, flags)
    }
}

/// The targets (the perturbed cells' expression) of `examples` of a batch, `cells × genes`.
pub fn batch_target<B: Backend>(
    b: &Batch,
    examples: Range<usize>,
    device: &B::Device,
) -> Tensor<B, 2> {
    let l = b.seq_len();
    let rows = examples.start * l..examples.end * l;
    let data = TensorData::new(b.target[rows].to_vec(), [examples.len(), l]);
    Tensor::from_data(data, device)
}
