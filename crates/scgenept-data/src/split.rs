//! GEARS' `simulation` split (`data_utils.py: DataSplitter`, identical in GEARS 0.0.2 and HEAD),
//! ported step for step so that the same conditions and seed give the same split as GEARS.
//!
//! Order matters for bit-exactness: `np.unique`/`np.setdiff1d` sort, list comprehensions keep the
//! order of the condition list (the order conditions first appear in `obs`), and the seen-combo
//! draw re-seeds the RNG. See docs/reference.md §4.4.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::condition::{is_control, is_pair, is_single, CTRL};
use crate::numpy_rng::LegacyRandomState;

/// The four GEARS subgroups of a test or validation set, and `seen_single` (transfer splits
/// only: a single perturbation trained on in the other dataset).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subgroups {
    #[serde(default)]
    pub combo_seen0: Vec<String>,
    #[serde(default)]
    pub combo_seen1: Vec<String>,
    #[serde(default)]
    pub combo_seen2: Vec<String>,
    #[serde(default)]
    pub unseen_single: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_single: Vec<String>,
}

impl Subgroups {
    /// GEARS' four subgroups (what its split files and pickles hold).
    pub const GEARS: [&'static str; 4] =
        ["combo_seen0", "combo_seen1", "combo_seen2", "unseen_single"];
    /// Every subgroup: GEARS' four and `seen_single`.
    pub const NAMES: [&'static str; 5] = [
        "combo_seen0",
        "combo_seen1",
        "combo_seen2",
        "unseen_single",
        "seen_single",
    ];

    pub fn get(&self, name: &str) -> Option<&[String]> {
        match name {
            "combo_seen0" => Some(&self.combo_seen0),
            "combo_seen1" => Some(&self.combo_seen1),
            "combo_seen2" => Some(&self.combo_seen2),
            "unseen_single" => Some(&self.unseen_single),
            "seen_single" => Some(&self.seen_single),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Vec<String>> {
        match name {
            "combo_seen0" => Some(&mut self.combo_seen0),
            "combo_seen1" => Some(&mut self.combo_seen1),
            "combo_seen2" => Some(&mut self.combo_seen2),
            "unseen_single" => Some(&mut self.unseen_single),
            "seen_single" => Some(&mut self.seen_single),
            _ => None,
        }
    }

    /// The subgroup a condition belongs to, if any.
    pub fn subgroup_of(&self, condition: &str) -> Option<&'static str> {
        Self::NAMES.into_iter().find(|n| {
            self.get(n)
                .is_some_and(|l| l.iter().any(|c| c == condition))
        })
    }

    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.combo_seen0
            .iter()
            .chain(&self.combo_seen1)
            .chain(&self.combo_seen2)
            .chain(&self.unseen_single)
            .chain(&self.seen_single)
    }
}

/// Conditions per split, with the subgroups of test and val (GEARS' split pickles, as one file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GearsSplit {
    pub train: Vec<String>,
    pub val: Vec<String>,
    pub test: Vec<String>,
    pub test_subgroup: Subgroups,
    pub val_subgroup: Subgroups,
}

/// Parameters of `DataSplitter.split_data(split_type="simulation")`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimulationSplitConfig {
    pub seed: u32,
    pub train_gene_set_size: f64,
    pub combo_seen2_train_frac: f64,
}

impl Default for SimulationSplitConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            train_gene_set_size: 0.75,
            combo_seen2_train_frac: 0.75,
        }
    }
}

/// `parse_any_pert`: the perturbed genes of a single or combo condition.
fn pert_genes(p: &str) -> Vec<&str> {
    let parts: Vec<&str> = p.split('+').collect();
    if is_single(p) {
        let (a, b) = (parts[0], parts.get(1).copied().unwrap_or(""));
        vec![if is_control(a) { b } else { a }]
    } else if is_pair(p) {
        vec![parts[0], parts.get(1).copied().unwrap_or("")]
    } else {
        vec![]
    }
}

/// `get_perts_from_genes`: conditions of one kind that perturb any of `genes`, in list order.
fn perts_from_genes<'a>(
    genes: &BTreeSet<&str>,
    perts: &[&'a str],
    kind: fn(&str) -> bool,
) -> Vec<&'a str> {
    perts
        .iter()
        .copied()
        .filter(|p| kind(p))
        .filter(|p| pert_genes(p).iter().any(|g| genes.contains(g)))
        .collect()
}

fn count_in(p: &str, genes: &BTreeSet<&str>) -> usize {
    p.split('+').filter(|t| genes.contains(t)).count()
}

/// Result of one `get_simulation_split` call.
struct SimSplit<'a> {
    train: Vec<&'a str>,
    test: Vec<&'a str>,
    subgroups: Subgroups,
}

/// `get_simulation_split(pert_list, f_gene, f_combo, seed)`.
fn simulation_split<'a>(perts: &[&'a str], f_gene: f64, f_combo: f64, seed: u32) -> SimSplit<'a> {
    let genes: Vec<&str> = perts
        .iter()
        .flat_map(|p| p.split('+'))
        .filter(|g| !is_control(g))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rng = LegacyRandomState::seed(seed);
    let n_train = (genes.len() as f64 * f_gene) as usize;
    let train_genes: BTreeSet<&str> = rng
        .choice_without_replacement(&genes, n_train)
        .into_iter()
        .collect();
    let ood: BTreeSet<&str> = genes
        .iter()
        .copied()
        .filter(|g| !train_genes.contains(g))
        .collect();

    let single_train = perts_from_genes(&train_genes, perts, is_single);
    let combo_any = perts_from_genes(&train_genes, perts, is_pair);
    let combo_seen1: Vec<&str> = combo_any
        .iter()
        .copied()
        .filter(|p| count_in(p, &train_genes) == 1)
        .collect();
    let pert_combo: Vec<&str> = combo_any
        .iter()
        .copied()
        .filter(|p| !combo_seen1.contains(p))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rng = LegacyRandomState::seed(seed);
    let n_combo_train = (pert_combo.len() as f64 * f_combo) as usize;
    let combo_train = rng.choice_without_replacement(&pert_combo, n_combo_train);
    let combo_seen2: Vec<&str> = pert_combo
        .iter()
        .copied()
        .filter(|p| !combo_train.contains(p))
        .collect();
    let unseen_single = perts_from_genes(&ood, perts, is_single);
    let combo_seen0: Vec<&str> = perts_from_genes(&ood, perts, is_pair)
        .into_iter()
        .filter(|p| count_in(p, &train_genes) == 0)
        .collect();

    let mut test = combo_seen1.clone();
    test.extend(&combo_seen2);
    test.extend(&unseen_single);
    test.extend(&combo_seen0);
    let mut train = single_train;
    train.extend(combo_train);
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    SimSplit {
        train,
        test,
        subgroups: Subgroups {
            combo_seen0: own(&combo_seen0),
            combo_seen1: own(&combo_seen1),
            combo_seen2: own(&combo_seen2),
            unseen_single: own(&unseen_single),
            seen_single: Vec::new(),
        },
    }
}

impl GearsSplit {
    /// `DataSplitter(adata, "simulation").split_data(...)`: `conditions` in the order they first
    /// appear in `obs` (`ctrl` may be among them; it always goes to train).
    pub fn simulation(conditions: &[String], cfg: SimulationSplitConfig) -> Self {
        let perts: Vec<&str> = conditions
            .iter()
            .map(String::as_str)
            .filter(|p| !is_control(p))
            .collect();
        let first = simulation_split(
            &perts,
            cfg.train_gene_set_size,
            cfg.combo_seen2_train_frac,
            cfg.seed,
        );
        let second = simulation_split(&first.train, 0.9, 0.9, cfg.seed);
        let mut train: Vec<String> = second.train.iter().map(|s| s.to_string()).collect();
        train.push(CTRL.into());
        Self {
            train,
            val: second.test.iter().map(|s| s.to_string()).collect(),
            test: first.test.iter().map(|s| s.to_string()).collect(),
            test_subgroup: first.subgroups,
            val_subgroup: second.subgroups,
        }
    }

    /// A transfer split (`docs/data.md`): GEARS' simulation split of the source's conditions
    /// with its test set moved into training (train and validation come from the source), and
    /// every given perturbation of the target as the test set. Test subgroups say what training
    /// saw: a single is `seen_single` when its gene was perturbed in training, else
    /// `unseen_single`; a pair is `combo_seen0/1/2` by how many of its genes were.
    pub fn transfer(source: &[String], target: &[String], cfg: SimulationSplitConfig) -> Self {
        let sim = Self::simulation(source, cfg);
        let mut train = sim.train;
        train.extend(sim.test);
        let seen: BTreeSet<&str> = (train.iter())
            .filter(|c| !is_control(c))
            .flat_map(|c| crate::condition::condition_genes(c))
            .collect();
        let test: Vec<String> = target.iter().filter(|c| !is_control(c)).cloned().collect();
        let mut sub = Subgroups::default();
        for c in &test {
            let genes = crate::condition::condition_genes(c);
            let n_seen = genes.iter().filter(|g| seen.contains(*g)).count();
            let group = match (genes.len(), n_seen) {
                (1, 1) => &mut sub.seen_single,
                (1, _) => &mut sub.unseen_single,
                (_, 0) => &mut sub.combo_seen0,
                (_, 1) => &mut sub.combo_seen1,
                _ => &mut sub.combo_seen2,
            };
            group.push(c.clone());
        }
        Self {
            train,
            val: sim.val,
            test,
            test_subgroup: sub,
            val_subgroup: sim.val_subgroup,
        }
    }

    /// Builds a split from test and val subgroups alone (the form scGenePT ships): test and val
    /// are the unions of their subgroups, train is every other condition plus `ctrl`.
    pub fn from_subgroups(conditions: &[String], test: Subgroups, val: Subgroups) -> Self {
        let held: BTreeSet<&String> = test.all().chain(val.all()).collect();
        let mut train: Vec<String> = conditions
            .iter()
            .filter(|c| !is_control(c) && !held.contains(c))
            .cloned()
            .collect();
        train.push(CTRL.into());
        Self {
            train,
            val: val.all().cloned().collect(),
            test: test.all().cloned().collect(),
            test_subgroup: test,
            val_subgroup: val,
        }
    }

    /// Which split a condition belongs to.
    pub fn split_of(&self, condition: &str) -> Option<SplitName> {
        if self.train.iter().any(|c| c == condition) {
            Some(SplitName::Train)
        } else if self.val.iter().any(|c| c == condition) {
            Some(SplitName::Val)
        } else if self.test.iter().any(|c| c == condition) {
            Some(SplitName::Test)
        } else {
            None
        }
    }

    /// Every condition named anywhere in the split.
    pub fn all_conditions(&self) -> BTreeSet<&str> {
        self.train
            .iter()
            .chain(&self.val)
            .chain(&self.test)
            .chain(self.test_subgroup.all())
            .chain(self.val_subgroup.all())
            .map(String::as_str)
            .collect()
    }

    /// Checks the split against the dataset's conditions: every named condition must exist, and
    /// no condition may sit in two splits.
    pub fn validate(&self, conditions: &[String]) -> Result<(), String> {
        let known: BTreeSet<&str> = conditions.iter().map(String::as_str).collect();
        let unknown: Vec<&str> = self
            .all_conditions()
            .into_iter()
            .filter(|c| !known.contains(c))
            .collect();
        if !unknown.is_empty() {
            let shown: Vec<&str> = unknown.iter().take(5).copied().collect();
            return Err(format!(
                "the split names {} condition(s) the dataset does not have ({}{}); was it made for another dataset?",
                unknown.len(),
                shown.join(", "),
                if unknown.len() > 5 { ", …" } else { "" }
            ));
        }
        let mut seen = BTreeSet::new();
        for c in self.train.iter().chain(&self.val).chain(&self.test) {
            if !seen.insert(c) {
                return Err(format!("condition '{c}' is in more than one split"));
            }
        }
        Ok(())
    }

    /// The composition summary GEARS prints after `prepare_split`.
    pub fn composition(&self) -> String {
        let mut s = format!(
            "Simulation split: train {} conditions (incl. ctrl), val {}, test {}\n",
            self.train.len(),
            self.val.len(),
            self.test.len()
        );
        for (label, sub) in [("test", &self.test_subgroup), ("val", &self.val_subgroup)] {
            s.push_str(&format!("Simulation split {label} composition:\n"));
            for name in Subgroups::NAMES {
                let n = sub.get(name).map_or(0, |l| l.len());
                // GEARS prints its four subgroups; `seen_single` only exists in transfers.
                if name != "seen_single" || n > 0 {
                    s.push_str(&format!("{name}:{n}\n"));
                }
            }
        }
        s
    }
}

/// The three splits of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    Train,
    Val,
    Test,
}
