//! Perturbation effects for the synthetic generator, structured by the real GO annotations.
//!
//! Each GO term carries a sparse response program over the dataset's genes. Perturbing gene `t`
//! shifts log-expression by a mix of the programs of `t`'s terms (the part a model can learn from
//! gene knowledge: genes sharing GO terms respond alike) and a program private to `t` (the part no
//! annotation predicts). `predictability` sets the mix. The target itself goes up (CRISPRa) or
//! down (CRISPRi). A pair is the sum of its singles, plus a non-additive term for a fraction of
//! pairs. Nothing here is biology — it is a testbed whose difficulty we control.

use std::collections::{BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};

/// CRISPR activation (Norman) raises the target; interference (Adamson) lowers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Crispra,
    Crispri,
}

/// Knobs of the effect model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EffectParams {
    pub modality: Modality,
    /// Share of each single's effect variance explained by its GO terms (0 = none, 1 = all).
    pub predictability: f64,
    /// Fraction of pairs with a non-additive interaction.
    pub interaction_frac: f64,
    /// Typical log-fold change of a responding gene.
    pub effect_scale: f64,
    /// Fraction of genes in one response program.
    pub program_density: f64,
    /// Log-fold change of the target gene itself (sign from the modality).
    pub target_lfc: f64,
}

/// Sparse effect vector: (gene index, log-fold change).
pub type Effect = Vec<(usize, f64)>;

fn sparse_program(rng: &mut StdRng, n_genes: usize, density: f64, forced: &[usize]) -> Effect {
    let k = ((n_genes as f64 * density).round() as usize)
        .max(3)
        .min(n_genes);
    let normal = Normal::new(0.0, 1.0).expect("valid normal");
    let mut genes: BTreeSet<usize> = forced.iter().copied().collect();
    let want = (genes.len() + k).min(n_genes);
    while genes.len() < want {
        genes.insert(rng.random_range(0..n_genes));
    }
    genes.into_iter().map(|g| (g, normal.sample(rng))).collect()
}

fn add_scaled(acc: &mut HashMap<usize, f64>, e: &Effect, w: f64) {
    for (g, v) in e {
        *acc.entry(*g).or_insert(0.0) += w * v;
    }
}

/// Rescales to root-mean-square 1 over its non-zeros.
fn unit_rms(acc: HashMap<usize, f64>) -> Effect {
    let n = acc.len().max(1) as f64;
    let rms = (acc.values().map(|v| v * v).sum::<f64>() / n).sqrt();
    let mut v: Effect = acc
        .into_iter()
        .map(|(g, x)| (g, if rms > 0.0 { x / rms } else { 0.0 }))
        .collect();
    v.sort_by_key(|(g, _)| *g);
    v
}

/// Effects of every single target and every pair of the dataset.
pub struct EffectModel {
    pub singles: HashMap<String, Effect>,
    pub pairs: HashMap<(String, String), Effect>,
    /// Pairs given a non-additive term.
    pub interacting: BTreeSet<(String, String)>,
}

/// Builds the model. `genes` are the dataset's symbols; `terms_of` gives a gene's GO terms;
/// `targets` the perturbed genes; `pairs` the double perturbations (unordered).
pub fn build_effects(
    genes: &[String],
    terms_of: &dyn Fn(&str) -> Vec<String>,
    targets: &[String],
    pairs: &[(String, String)],
    p: &EffectParams,
    seed: u64,
) -> EffectModel {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_effe);
    let index: HashMap<&str, usize> = genes
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    // Which dataset genes carry each term: co-annotated genes join the term's program.
    let mut members: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, g) in genes.iter().enumerate() {
        for t in terms_of(g) {
            members.entry(t).or_default().push(i);
        }
    }
    let mut programs: HashMap<String, Effect> = HashMap::new();
    let mut term_list: Vec<String> = targets
        .iter()
        .flat_map(|t| terms_of(t))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    term_list.sort();
    for term in term_list {
        let forced: Vec<usize> = members
            .get(&term)
            .map(|m| m.iter().take(25).copied().collect())
            .unwrap_or_default();
        let prog = sparse_program(&mut rng, genes.len(), p.program_density, &forced);
        programs.insert(term, prog);
    }
    let strength = LogNormal::new(0.0, 0.5).expect("valid lognormal");
    let sign = match p.modality {
        Modality::Crispra => 1.0,
        Modality::Crispri => -1.0,
    };
    let mut singles = HashMap::new();
    for t in targets {
        let terms = terms_of(t);
        let mut shared = HashMap::new();
        for term in &terms {
            add_scaled(
                &mut shared,
                &programs[term],
                1.0 / (terms.len() as f64).sqrt(),
            );
        }
        let own = sparse_program(&mut rng, genes.len(), p.program_density, &[]);
        let (a, b) = if shared.is_empty() {
            (0.0, 1.0)
        } else {
            (p.predictability.sqrt(), (1.0 - p.predictability).sqrt())
        };
        let mut acc = HashMap::new();
        add_scaled(&mut acc, &unit_rms(shared), a);
        add_scaled(&mut acc, &unit_rms(own.into_iter().collect()), b);
        let m = p.effect_scale * strength.sample(&mut rng);
        let mut effect: HashMap<usize, f64> = acc.into_iter().map(|(g, v)| (g, v * m)).collect();
        if let Some(&ti) = index.get(t.as_str()) {
            *effect.entry(ti).or_insert(0.0) =
                sign * p.target_lfc * (0.8 + 0.4 * rng.random::<f64>());
        }
        let mut v: Effect = effect.into_iter().collect();
        v.sort_by_key(|(g, _)| *g);
        singles.insert(t.clone(), v);
    }
    let mut pair_effects = HashMap::new();
    let mut interacting = BTreeSet::new();
    for (a, b) in pairs {
        let mut acc = HashMap::new();
        add_scaled(&mut acc, &singles[a], 1.0);
        add_scaled(&mut acc, &singles[b], 1.0);
        if rng.random::<f64>() < p.interaction_frac {
            let extra = sparse_program(&mut rng, genes.len(), p.program_density, &[]);
            add_scaled(&mut acc, &extra, 0.8 * p.effect_scale);
            interacting.insert((a.clone(), b.clone()));
        }
        let mut v: Effect = acc.into_iter().collect();
        v.sort_by_key(|(g, _)| *g);
        pair_effects.insert((a.clone(), b.clone()), v);
    }
    EffectModel {
        singles,
        pairs: pair_effects,
        interacting,
    }
}
