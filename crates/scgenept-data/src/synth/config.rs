//! What a synthetic dataset is: its condition set (Norman's or Adamson's real conditions), its
//! size and effect parameters ([`SynthConfig`]), and the named presets.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::effects::{EffectParams, Modality};
use crate::condition::{
    condition_genes, gene_before_ctrl, is_control, is_pair, single, single_ctrl_first,
};

const NORMAN_CONDITIONS: &str = include_str!("../../assets/gears/norman_conditions_normalized.txt");
const ADAMSON_CONDITIONS: &str = include_str!("../../assets/gears/adamson_conditions.txt");

/// The fixed shuffle [`ConditionSet::Essential`] draws its targets from.
const ESSENTIAL_TARGETS_SEED: u64 = 0x5245_504c_4f47_4c45;

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
    /// `n_targets` single knock-downs of GO-annotated genes, as a genome-scale essential screen
    /// (Replogle). The targets are the first `n_targets` of one fixed shuffle of the annotated
    /// genes, whatever the seed, so a smaller screen's targets are a larger one's first ones
    /// (K562's 2,057 among RPE1's 2,393: a transfer has shared and new perturbations).
    Essential { n_targets: usize },
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
    /// `obs.cell_type`, also the start of each `condition_name`.
    pub cell_type: String,
}

/// The synthetic datasets `data synth` makes: `tiny` (tests), `demo` (the README's main job),
/// `adamson` and `norman` (the real datasets' sizes), `replogle_k562` and `replogle_rpe1` (the
/// essential screens' sizes, single perturbations only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SynthPreset {
    Tiny,
    Demo,
    Adamson,
    Norman,
    ReplogleK562,
    ReplogleRpe1,
}

impl SynthPreset {
    pub const ALL: [SynthPreset; 6] = [
        Self::Tiny,
        Self::Demo,
        Self::Adamson,
        Self::Norman,
        Self::ReplogleK562,
        Self::ReplogleRpe1,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Tiny => "tiny",
            Self::Demo => "demo",
            Self::Adamson => "adamson",
            Self::Norman => "norman",
            Self::ReplogleK562 => "replogle_k562",
            Self::ReplogleRpe1 => "replogle_rpe1",
        }
    }

    /// `tiny, demo, adamson, norman, replogle_k562, replogle_rpe1`.
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
            cell_type: "K562".into(),
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
            // The K562 essential screen at the size issue 32 gives (docs/data.md): 310,385 cells
            // × 8,563 genes, 2,057 knock-downs, 10,691 non-targeting cells.
            SynthPreset::ReplogleK562 => c(
                ConditionSet::Essential { n_targets: 2_057 },
                8_563,
                310_385,
                10_691.0 / 310_385.0,
                Modality::Crispri,
            ),
            // The RPE1 essential screen, approximately: 247,914 cells × 8,749 genes, 2,393
            // knock-downs, 11,485 non-targeting cells.
            SynthPreset::ReplogleRpe1 => Self {
                cell_type: "rpe1".into(),
                ..c(
                    ConditionSet::Essential { n_targets: 2_393 },
                    8_749,
                    247_914,
                    11_485.0 / 247_914.0,
                    Modality::Crispri,
                )
            },
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// GEARS-spelled condition labels (without ctrl) and the unordered pairs among them.
pub(super) fn choose_conditions(
    set: &ConditionSet,
    annotated: &[&str],
    rng: &mut StdRng,
) -> Vec<String> {
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
        ConditionSet::Essential { n_targets } => {
            let mut pool = annotated.to_vec();
            pool.shuffle(&mut StdRng::seed_from_u64(ESSENTIAL_TARGETS_SEED));
            pool.into_iter().take(*n_targets).map(single).collect()
        }
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
