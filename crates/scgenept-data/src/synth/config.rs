//! What a synthetic dataset is: its condition set (Norman's or Adamson's real conditions), its
//! size and effect parameters ([`SynthConfig`]), and the named presets.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::effects::{EffectParams, Modality};
use crate::condition::{
    condition_genes, gene_before_ctrl, is_control, is_pair, single, single_ctrl_first,
};

const NORMAN_CONDITIONS: &str = include_str!("../../assets/gears/norman_conditions_normalized.txt");
const ADAMSON_CONDITIONS: &str = include_str!("../../assets/gears/adamson_conditions.txt");

/// Which conditions a dataset has.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionSet {
    /// All 236 Norman perturbations; 47 singles also spelled `ctrl+A` (284 conditions with ctrl,
    /// as in GEARS' file), pairs in random order.
    Norman,
    /// The 86 Adamson single perturbations.
    Adamson,
    /// `n_pairs` Norman pairs drawn at random, singles for each of their genes, plus
    /// `extra_singles` more Norman singles.
    NormanSubset {
        n_pairs: usize,
        extra_singles: usize,
    },
}

/// Everything that determines a synthetic dataset (with the seed).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SynthConfig {
    pub preset: String,
    pub conditions: ConditionSet,
    pub n_genes: usize,
    pub n_cells: usize,
    pub ctrl_fraction: f64,
    pub effects: EffectParams,
    /// Write `layers["counts"]` (raw counts), as GEARS' files have.
    pub with_counts: bool,
}

/// The synthetic datasets `data synth` makes: `tiny` (tests), `demo` (the README's main job),
/// `adamson` and `norman` (the real datasets' sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynthPreset {
    Tiny,
    Demo,
    Adamson,
    Norman,
}

impl SynthPreset {
    pub const ALL: [SynthPreset; 4] = [Self::Tiny, Self::Demo, Self::Adamson, Self::Norman];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Demo => "demo",
            Self::Adamson => "adamson",
            Self::Norman => "norman",
        }
    }

    /// `tiny, demo, adamson, norman`.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl std::fmt::Display for SynthPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SynthPreset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown preset '{s}'; choose one of {}", Self::names()))
    }
}

impl SynthConfig {
    pub fn preset(preset: SynthPreset) -> Self {
        let effects = |modality| EffectParams {
            modality,
            predictability: 0.7,
            interaction_frac: 0.3,
            effect_scale: 0.8,
            program_density: 0.02,
            target_lfc: 3.0,
        };
        let c = |conditions, n_genes, n_cells, ctrl_fraction, modality| Self {
            preset: preset.to_string(),
            conditions,
            n_genes,
            n_cells,
            ctrl_fraction,
            effects: effects(modality),
            with_counts: true,
        };
        match preset {
            SynthPreset::Tiny => c(
                ConditionSet::NormanSubset {
                    n_pairs: 6,
                    extra_singles: 4,
                },
                64,
                600,
                0.25,
                Modality::Crispra,
            ),
            SynthPreset::Demo => c(
                ConditionSet::NormanSubset {
                    n_pairs: 24,
                    extra_singles: 10,
                },
                384,
                4_000,
                0.15,
                Modality::Crispra,
            ),
            // Norman: 91,205 cells × 5,045 genes, 7,353 of them ctrl.
            SynthPreset::Norman => c(
                ConditionSet::Norman,
                5_045,
                91_205,
                7_353.0 / 91_205.0,
                Modality::Crispra,
            ),
            // Adamson: 5,060 genes; 65,899 cells as loaded by GEARS.
            SynthPreset::Adamson => c(ConditionSet::Adamson, 5_060, 65_899, 0.2, Modality::Crispri),
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// GEARS-spelled condition labels (without ctrl) and the unordered pairs among them.
pub(super) fn choose_conditions(set: &ConditionSet, rng: &mut StdRng) -> Vec<String> {
    let norman: Vec<String> = words(NORMAN_CONDITIONS);
    let flip = |c: &str, rng: &mut StdRng| -> String {
        let g = condition_genes(c);
        if g.len() == 2 && rng.random::<bool>() {
            format!("{}+{}", g[1], g[0])
        } else {
            c.to_string()
        }
    };
    match set {
        ConditionSet::Adamson => words(ADAMSON_CONDITIONS)
            .into_iter()
            .filter(|c| !is_control(c))
            .collect(),
        ConditionSet::Norman => {
            let mut out: Vec<String> = norman.iter().map(|c| flip(c, rng)).collect();
            let mut singles: Vec<&String> = norman
                .iter()
                .filter(|c| gene_before_ctrl(c).is_some())
                .collect();
            singles.shuffle(rng);
            for s in singles.into_iter().take(47) {
                out.push(single_ctrl_first(condition_genes(s)[0]));
            }
            out
        }
        ConditionSet::NormanSubset {
            n_pairs,
            extra_singles,
        } => {
            let mut pairs: Vec<&String> = norman.iter().filter(|c| is_pair(c)).collect();
            pairs.shuffle(rng);
            let pairs: Vec<String> = pairs
                .into_iter()
                .take(*n_pairs)
                .map(|c| flip(c, rng))
                .collect();
            let mut genes: BTreeSet<String> = pairs
                .iter()
                .flat_map(|c| condition_genes(c).into_iter().map(String::from))
                .collect();
            let mut others: Vec<String> = norman
                .iter()
                .filter(|c| gene_before_ctrl(c).is_some())
                .map(|c| condition_genes(c)[0].to_string())
                .filter(|g| !genes.contains(g))
                .collect();
            others.shuffle(rng);
            genes.extend(others.into_iter().take(*extra_singles));
            let mut out: Vec<String> = genes.into_iter().map(|g| single(&g)).collect();
            out.extend(pairs);
            out
        }
    }
}
