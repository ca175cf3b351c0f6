//! Training examples, as GEARS' cell graphs (docs/reference.md §4.3): every perturbed cell is
//! paired with one control cell drawn at random from all control cells, fixed once at build time;
//! control cells (all in train) are paired with themselves. The pairing is seeded by us — GEARS'
//! numpy draw is cached in `cell_graphs.pkl` and cannot be reproduced without it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::perturb_data::PerturbData;
use crate::split::{GearsSplit, SplitName};

/// One (input control cell → perturbed target cell) example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Example {
    /// The perturbed cell: the target expression (`batch.y`).
    pub cell: u32,
    /// The paired control cell: the input expression (`x[:, 0]`).
    pub control: u32,
    /// Index into `PerturbData::conditions`.
    pub condition: u32,
}

/// All examples of one split.
#[derive(Clone, Debug)]
pub struct PairedSet {
    pub split: SplitName,
    pub examples: Vec<Example>,
}

fn split_salt(split: SplitName) -> u64 {
    match split {
        SplitName::Train => 0x7472_6169_6e00_0001,
        SplitName::Val => 0x7661_6c00_0000_0002,
        SplitName::Test => 0x7465_7374_0000_0003,
    }
}

/// Pairs every cell of the split's conditions, in dataset cell order. Deterministic in `seed`.
pub fn pair_controls(
    data: &PerturbData,
    split: &GearsSplit,
    which: SplitName,
    seed: u64,
) -> PairedSet {
    let names = match which {
        SplitName::Train => &split.train,
        SplitName::Val => &split.val,
        SplitName::Test => &split.test,
    };
    let wanted: std::collections::HashSet<&str> = names.iter().map(String::as_str).collect();
    let in_split: Vec<bool> = data
        .conditions
        .iter()
        .map(|c| wanted.contains(c.as_str()))
        .collect();
    let ctrl = data.control_index() as u32;
    let controls: Vec<u32> = (0..data.n_cells() as u32)
        .filter(|c| data.cell_condition[*c as usize] == ctrl)
        .collect();
    let mut rng = StdRng::seed_from_u64(seed ^ split_salt(which));
    let mut examples = Vec::new();
    for (cell, &k) in data.cell_condition.iter().enumerate() {
        if !in_split[k as usize] {
            continue;
        }
        let control = if k == ctrl {
            cell as u32
        } else {
            controls[rng.random_range(0..controls.len())]
        };
        examples.push(Example {
            cell: cell as u32,
            control,
            condition: k,
        });
    }
    PairedSet {
        split: which,
        examples,
    }
}
