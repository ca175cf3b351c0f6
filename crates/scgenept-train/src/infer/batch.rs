//! How many cells one inference forward takes on a device: a memory budget per device kind over
//! what one cell's forward holds at once (docs/features.md, "Prediction").
//!
//! Without autodiff a layer keeps only its own activations. Per cell and gene that is the packed
//! Q, K, V projection (3·d), the context and the residual stream (2·d), the feed-forward hidden
//! layer (d_hid) and the layer output (d). On the CPU attention streams over query rows
//! (`attention/host.rs` in the model crate). On CUDA and wgpu inference runs burn's `attention` op; with burn's
//! `autotune` (docs/gpu.md) it times its flash kernels against its fallback, which materialises
//! the `heads × L × L` scores and their softmax, so a GPU batch is sized for those two score
//! tensors per cell; on wgpu no tensor may exceed the 128 MiB buffer-binding limit either.

use scgenept_model::ModelConfig;

use crate::device::{Device, DeviceKind};

/// Bytes of activations one batch may hold on the CPU: the matmuls run at full speed with a few
/// cells, and smaller batches stay in cache (demo network, 2 cores: 4–24 cells per batch 5–10%
/// faster than 97; benches/README.md).
const CPU_BUDGET: usize = 16 << 20;
/// Bytes of activations one batch may hold on a GPU: a few GiB fit every card we support
/// (24 GiB and up) beside the weights.
const GPU_BUDGET: usize = 4 << 30;
/// More cells than this in one forward buy no speed on any device we measured.
const MAX_CELLS: usize = 512;
/// wgpu's default limit on one storage buffer binding (`max_storage_buffer_binding_size`, 128
/// MiB): no tensor of a wgpu batch may be larger (lavapipe refuses a 144 MiB buffer).
const WGPU_MAX_BINDING: usize = 128 << 20;

/// Cells per inference batch for `model` over `genes` genes on `device`: at least 1, at most
/// [`MAX_CELLS`].
pub fn cells_per_batch(device: &Device, model: &ModelConfig, genes: usize) -> usize {
    let (l, d) = (genes.max(1), model.d_model);
    let per_token = 6 * d + model.d_hid;
    let (budget, scores) = match device.kind {
        DeviceKind::Cpu => (CPU_BUDGET, 0),
        DeviceKind::Cuda | DeviceKind::Wgpu => (GPU_BUDGET, 2 * model.nhead * l * l),
    };
    let per_cell = 4 * (l * per_token + scores);
    let mut cells = budget / per_cell;
    if device.kind == DeviceKind::Wgpu {
        let largest = 4 * (model.nhead * l * l).max(l * (3 * d).max(model.d_hid));
        cells = cells.min(WGPU_MAX_BINDING / largest);
    }
    cells.clamp(1, MAX_CELLS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(d_model: usize, d_hid: usize, nhead: usize) -> ModelConfig {
        ModelConfig {
            d_model,
            d_hid,
            nhead,
            ..ModelConfig::default()
        }
    }

    #[test]
    fn batches_shrink_with_the_network_and_the_genes() {
        let cpu = Device::cpu();
        let (cuda, wgpu): (Device, Device) = ("cuda".parse().unwrap(), "wgpu".parse().unwrap());
        // The demo network over 384 genes: 16 MiB / (4 · 384 · 448 B) = 24 cells.
        assert_eq!(cells_per_batch(&cpu, &model(64, 64, 4), 384), 24);
        // The paper's network over Norman's 5,045 genes: one cell holds 72 MiB on the CPU.
        assert_eq!(cells_per_batch(&cpu, &model(512, 512, 8), 5045), 1);
        // 4 GiB on a GPU, where the scores and their softmax count: 2 · 8 · 5045² · 4 B =
        // 1.52 GiB per cell, so 2 cells (59 before, which asked for 45 GiB of scores); on wgpu
        // above the 128 MiB binding limit already (one cell is the floor).
        assert_eq!(cells_per_batch(&cuda, &model(512, 512, 8), 5045), 2);
        assert_eq!(cells_per_batch(&wgpu, &model(512, 512, 8), 5045), 1);
        // wgpu: no tensor above 128 MiB, here the demo's 4 · 384² scores (2.25 MiB) per cell.
        assert_eq!(cells_per_batch(&wgpu, &model(64, 64, 4), 384), 56);
        assert_eq!(cells_per_batch(&cuda, &model(64, 64, 4), 384), MAX_CELLS);
        assert_eq!(cells_per_batch(&cuda, &model(64, 64, 4), 16), MAX_CELLS);
        assert_eq!(cells_per_batch(&cpu, &model(64, 64, 4), 0), MAX_CELLS);
    }
}
