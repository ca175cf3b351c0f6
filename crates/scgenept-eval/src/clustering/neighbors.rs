//! scanpy 1.11's `pp.neighbors` on a few points (docs/evaluation.md, "clustering agreement"):
//! the exact k nearest neighbours (itself first), then UMAP 0.5's fuzzy simplicial set
//! (`smooth_knn_dist`, `compute_membership_strengths`, the fuzzy union), in float32 as UMAP's
//! numba code computes it. Returns the connectivities as the edge list scanpy hands to igraph:
//! every stored entry of the symmetric matrix, row by row, so each pair appears twice.

use std::collections::{BTreeMap, BTreeSet};

/// UMAP's `SMOOTH_K_TOLERANCE` and `MIN_K_DIST_SCALE`.
const SMOOTH_K_TOLERANCE: f64 = 1e-5;
const MIN_K_DIST_SCALE: f64 = 1e-3;

/// The connectivity graph of `points` with `n_neighbors` neighbours (scanpy's default 15, at
/// most n − 1): edges `(i, j)` in row-major order and their weights.
pub fn umap_graph(points: &[Vec<f64>], n_neighbors: usize) -> (Vec<(usize, usize)>, Vec<f64>) {
    let n = points.len();
    let k = n_neighbors.min(n.saturating_sub(1)).max(1);
    let (idx, dist) = knn(points, k);
    let (sigma, rho) = smooth_knn_dist(&dist, k as f64);
    // Each directed membership (i, j), self left out (UMAP sets it to 0 and drops the zeros).
    let mut strength: BTreeMap<(usize, usize), f32> = BTreeMap::new();
    for i in 0..n {
        for j in 0..k {
            let d = dist[i][j];
            let v = if idx[i][j] == i {
                0.0
            } else if d - rho[i] <= 0.0 || sigma[i] == 0.0 {
                1.0
            } else {
                (-((d - rho[i]) / sigma[i])).exp()
            };
            if v != 0.0 {
                strength.insert((i, idx[i][j]), v);
            }
        }
    }
    // The fuzzy union a + b − a·b in float32 over both directions, row by row, zeros dropped.
    let pairs: BTreeSet<(usize, usize)> = (strength.keys())
        .flat_map(|&(i, j)| [(i, j), (j, i)])
        .collect();
    let at = |i: usize, j: usize| strength.get(&(i, j)).copied().unwrap_or(0.0);
    let mut edges = Vec::new();
    let mut weights = Vec::new();
    for (i, j) in pairs {
        let (a, b) = (at(i, j), at(j, i));
        let v = (a + b) - a * b;
        if v != 0.0 {
            edges.push((i, j));
            weights.push(v as f64);
        }
    }
    (edges, weights)
}

/// Each point's `k` nearest points by Euclidean distance, itself first, nearest first, as
/// sklearn's brute-force `KNeighborsTransformer` and scanpy keep them; distances in float32.
fn knn(points: &[Vec<f64>], k: usize) -> (Vec<Vec<usize>>, Vec<Vec<f32>>) {
    let rows: Vec<usize> = (0..points.len()).collect();
    let nearest = crate::par::map(&rows, |&i| {
        let p = &points[i];
        let mut d: Vec<(f64, usize)> = (points.iter().enumerate())
            .map(|(j, q)| {
                let s: f64 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                (if i == j { 0.0 } else { s.sqrt() }, j)
            })
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        d.truncate(k);
        let idx: Vec<usize> = d.iter().map(|x| x.1).collect();
        let dist: Vec<f32> = d.iter().map(|x| x.0 as f32).collect();
        (idx, dist)
    });
    nearest.into_iter().unzip()
}

/// UMAP's `smooth_knn_dist` (local connectivity 1, bandwidth 1): each point's ρ (distance to
/// its nearest other point) and σ (by bisection, so the memberships sum to log2 k).
fn smooth_knn_dist(dist: &[Vec<f32>], k: f64) -> (Vec<f32>, Vec<f32>) {
    let target = k.log2();
    let all: Vec<f32> = dist.iter().flatten().copied().collect();
    let mean_all = mean(&all);
    let mut sigma = vec![0f32; dist.len()];
    let mut rho = vec![0f32; dist.len()];
    for (i, row) in dist.iter().enumerate() {
        if let Some(&first) = row.iter().find(|&&d| d > 0.0) {
            rho[i] = first;
        }
        let (mut lo, mut hi, mut mid) = (0f32, f32::MAX, 1f32);
        for _ in 0..64 {
            let mut psum = 0f32;
            for &d in &row[1..] {
                let d = d - rho[i];
                psum += if d > 0.0 { (-(d / mid)).exp() } else { 1.0 };
            }
            if (psum as f64 - target).abs() < SMOOTH_K_TOLERANCE {
                break;
            }
            if psum as f64 > target {
                hi = mid;
                mid = (lo + hi) / 2.0;
            } else {
                lo = mid;
                if hi >= f32::MAX {
                    mid *= 2.0;
                } else {
                    mid = (lo + hi) / 2.0;
                }
            }
        }
        sigma[i] = mid;
        let floor = MIN_K_DIST_SCALE * if rho[i] > 0.0 { mean(row) } else { mean_all };
        if (sigma[i] as f64) < floor {
            sigma[i] = floor as f32;
        }
    }
    (sigma, rho)
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}
