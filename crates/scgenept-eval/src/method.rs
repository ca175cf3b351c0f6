//! The methods a run scores, named once: the trained model, the baselines that need only the
//! data ([`Baseline`]) and the two that read a knowledge table. `metrics.json`, `results.csv`
//! and the tables keep today's names (`model`, `non_ctrl_mean`, `ridge_embedding`, …); inside
//! the program a method is this type.

use std::fmt;
use std::str::FromStr;

/// A baseline method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Baseline {
    /// Predicts no change: the control mean.
    ControlMean,
    /// The mean over training perturbations of each one's mean (perturbation-weighted), as the
    /// paper's "non-control-mean".
    NonCtrlMean,
    /// The mean over all perturbed training cells (cell-weighted variant).
    NonCtrlMeanCells,
    /// The mean of one training perturbation drawn at random (seeded) per test condition.
    RandomTrainPerturbation,
    /// For a pair whose two singles were both trained on: ctrl + Δ(A) + Δ(B). Other conditions are
    /// not scored by this baseline.
    Additive,
    /// Systema's matching mean (`src/run_matching-mean.py`): the average, over the condition's
    /// `+`-separated tokens, of the training centroid of that gene's single, or of all perturbed
    /// training cells when the single was not trained on (so `ctrl` counts as the latter).
    MatchingMean,
    /// Not a baseline but the ceiling: each test condition's cells split in two at random
    /// (seeded), one half's mean scored against the other half's (the VCC's split-half
    /// replicate). It reads test cells, which no method may.
    SplitHalfReplicate,
}

impl Baseline {
    pub const ALL: [Baseline; 7] = [
        Baseline::ControlMean,
        Baseline::NonCtrlMean,
        Baseline::NonCtrlMeanCells,
        Baseline::RandomTrainPerturbation,
        Baseline::Additive,
        Baseline::MatchingMean,
        Baseline::SplitHalfReplicate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::ControlMean => "control_mean",
            Baseline::NonCtrlMean => "non_ctrl_mean",
            Baseline::NonCtrlMeanCells => "non_ctrl_mean_cells",
            Baseline::RandomTrainPerturbation => "random_train_perturbation",
            Baseline::Additive => "additive",
            Baseline::MatchingMean => "matching_mean",
            Baseline::SplitHalfReplicate => "split_half_replicate",
        }
    }

    /// The ceiling rather than a baseline to beat.
    pub fn is_ceiling(self) -> bool {
        self == Baseline::SplitHalfReplicate
    }
}

/// A scored method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// The trained network.
    Model,
    Baseline(Baseline),
    /// Ridge regression from a perturbation's knowledge embedding to its Δ.
    RidgeEmbedding,
    /// Mean Δ of the nearest training perturbations by knowledge embedding.
    KnnEmbedding,
}

impl Method {
    /// Every method, the model first.
    pub fn all() -> impl Iterator<Item = Method> {
        (std::iter::once(Method::Model))
            .chain(Baseline::ALL.map(Method::Baseline))
            .chain([Method::RidgeEmbedding, Method::KnnEmbedding])
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Model => "model",
            Method::Baseline(b) => b.name(),
            Method::RidgeEmbedding => "ridge_embedding",
            Method::KnnEmbedding => "knn_embedding",
        }
    }

    /// Reads perturbations through a knowledge table (its rows name the table).
    pub fn is_embedding(self) -> bool {
        matches!(self, Method::RidgeEmbedding | Method::KnnEmbedding)
    }
}

/// Ordered by name, as `metrics.json` has always listed them.
impl Ord for Method {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Method {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// Written as its name (a key of `metrics.json`).
impl serde::Serialize for Method {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::all().find(|m| m.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Method::all().map(Method::name).collect();
            format!("unknown method '{s}'; known: {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_through_their_names_in_name_order() {
        let all: Vec<Method> = Method::all().collect();
        for m in &all {
            assert_eq!(m.name().parse::<Method>().unwrap(), *m);
        }
        let mut sorted = all.clone();
        sorted.sort();
        let names: Vec<&str> = sorted.iter().map(|m| m.name()).collect();
        let mut by_name = names.clone();
        by_name.sort();
        assert_eq!(names, by_name);
        assert!("mean"
            .parse::<Method>()
            .unwrap_err()
            .contains("known: model"));
    }
}
