//! Training examples, as GEARS' cell graphs (docs/reference.md §4.3): every perturbed cell is
//! paired with one control cell drawn at random from all control cells, fixed once at build time;
//! control cells (all in train) are paired with themselves. The pairing is seeded by us — GEARS'
//! numpy draw is cached in `cell_graphs.pkl` and cannot be reproduced without it.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::seq::index;
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

impl PairedSet {
    /// At most `n` examples of each condition, drawn without replacement, seeded by `seed`
    /// (conditions in index order, one generator), in the set's order; a condition with `n` or
    /// fewer keeps them all. For test predictions on a subsample (docs/data.md).
    pub fn at_most_per_condition(&self, n: usize, seed: u64) -> PairedSet {
        let mut by_condition: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, e) in self.examples.iter().enumerate() {
            by_condition.entry(e.condition).or_default().push(i);
        }
        let mut rng = StdRng::seed_from_u64(seed ^ SUBSAMPLE_SALT);
        let cap = n.saturating_mul(by_condition.len());
        let mut kept = Vec::with_capacity(self.examples.len().min(cap));
        for rows in by_condition.values() {
            if rows.len() <= n {
                kept.extend_from_slice(rows);
            } else {
                kept.extend(
                    index::sample(&mut rng, rows.len(), n)
                        .iter()
                        .map(|j| rows[j]),
                );
            }
        }
        kept.sort_unstable();
        PairedSet {
            split: self.split,
            examples: kept.into_iter().map(|i| self.examples[i]).collect(),
        }
    }
}

const SUBSAMPLE_SALT: u64 = 0x7375_6273_616d_706c;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subsample_keeps_at_most_n_per_condition_in_order_and_is_seeded() {
        // Conditions 0..4 with 1, 3, 6 and 10 examples, interleaved.
        let sizes = [1usize, 3, 6, 10];
        let mut examples = Vec::new();
        for round in 0..10 {
            for (k, &size) in sizes.iter().enumerate() {
                if round < size {
                    let cell = examples.len() as u32;
                    let (control, condition) = (1000 + cell, k as u32);
                    examples.push(Example {
                        cell,
                        control,
                        condition,
                    });
                }
            }
        }
        let set = PairedSet {
            split: SplitName::Test,
            examples,
        };
        let sub = set.at_most_per_condition(3, 42);
        let count = |s: &PairedSet, k: u32| s.examples.iter().filter(|e| e.condition == k).count();
        assert_eq!(
            (0..4).map(|k| count(&sub, k)).collect::<Vec<_>>(),
            [1, 3, 3, 3]
        );
        // Whole examples of the set (cell with its control), in the set's order.
        assert!(sub.examples.windows(2).all(|w| w[0].cell < w[1].cell));
        assert!(sub.examples.iter().all(|e| set.examples.contains(e)));
        assert_eq!(sub.examples, set.at_most_per_condition(3, 42).examples);
        let other = set.at_most_per_condition(3, 7);
        assert_ne!(
            sub.examples, other.examples,
            "another seed draws other cells"
        );
        assert_eq!(set.at_most_per_condition(10, 1).examples, set.examples);
        assert_eq!(
            set.at_most_per_condition(usize::MAX, 1).examples,
            set.examples
        );
    }
}
