//! cell-eval 0.8.2's `clustering_agreement` (docs/evaluation.md, "clustering agreement"): the
//! real and the predicted perturbation centroids (float64 means of each side's cells) are each
//! clustered as scanpy does it (`pp.neighbors` with 15 neighbours, then `tl.leiden` with
//! igraph's modularity Leiden, two iterations, seed 0); the real side at resolution 1, the
//! predicted side at 0.2 … 2; the score is the best adjusted mutual information between the real
//! clusters and one of the predicted clusterings (0 when every one is negative).

mod ami;
mod leiden;
mod neighbors;
mod rng;

use crate::pair::{Cells, Pair};

/// cell-eval's defaults: the real side's resolution, the predicted side's sweep, neighbours.
const REAL_RESOLUTION: f64 = 1.0;
const PRED_RESOLUTIONS: [f64; 7] = [0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0];
const N_NEIGHBORS: usize = 15;
/// scanpy's Leiden through igraph: `beta` (igraph's default) and `n_iterations`.
const BETA: f64 = 0.01;
const N_ITERATIONS: usize = 2;

/// The fewest perturbations cell-eval can cluster: with one, sklearn refuses zero neighbours;
/// with two, igraph fails on the empty graph ("Maximum allowed size exceeded").
pub const MIN_PERTURBATIONS: usize = 3;

/// The score over `pair.perts`; NaN with fewer than [`MIN_PERTURBATIONS`].
pub fn clustering_agreement(pair: &Pair) -> f64 {
    if pair.perts.len() < MIN_PERTURBATIONS {
        return f64::NAN;
    }
    let (truth, predicted) = memberships(pair);
    (predicted.iter())
        .map(|m| ami::adjusted_mutual_info(&truth, m))
        .fold(0.0, f64::max)
}

/// Each perturbation's mean cell in float64.
fn centroids(cells: &Cells, perts: &[String]) -> Vec<Vec<f64>> {
    let rows = cells.rows_by_label();
    (perts.iter())
        .map(|p| cells.mean_f64(&rows[p.as_str()]))
        .collect()
}

/// One side's neighbour graph, clustered at any resolution.
struct Clusterer {
    graph: leiden::Graph,
    weights: Vec<f64>,
}

impl Clusterer {
    fn new(points: &[Vec<f64>]) -> Clusterer {
        let (edges, weights) = neighbors::umap_graph(points, N_NEIGHBORS);
        Clusterer {
            graph: leiden::Graph::new(points.len(), &edges),
            weights,
        }
    }

    /// scanpy's `tl.leiden(flavor="igraph", n_iterations=2)`, seeded afresh each time.
    fn leiden(&self, resolution: f64) -> Vec<usize> {
        let mut rng = rng::IgraphRng::scanpy();
        leiden::leiden_modularity(
            &self.graph,
            &self.weights,
            resolution,
            BETA,
            N_ITERATIONS,
            &mut rng,
        )
    }
}

/// The memberships behind the score: the real side's at resolution 1, the predicted side's at
/// each of 0.2, 0.4, 0.6, 0.8, 1, 1.5 and 2 (tests check them against scanpy's).
pub fn memberships(pair: &Pair) -> (Vec<usize>, Vec<Vec<usize>>) {
    let real = Clusterer::new(&centroids(&pair.real, &pair.perts));
    let pred = Clusterer::new(&centroids(&pair.pred, &pair.perts));
    let p = PRED_RESOLUTIONS.iter().map(|&r| pred.leiden(r)).collect();
    (real.leiden(REAL_RESOLUTION), p)
}
