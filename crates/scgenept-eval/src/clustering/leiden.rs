//! igraph 1.0's Leiden algorithm (`community/leiden.c`), undirected, as python-igraph's
//! `community_leiden(objective_function="modularity")` runs it for scanpy: vertex weights are the
//! strengths, the resolution is divided by their sum, and every step (vertex orders, the random
//! merges of the refinement, the order sums are taken in) follows the C code, so that with the
//! same random numbers ([`IgraphRng`]) the memberships are the same (docs/evaluation.md).

use super::rng::IgraphRng;

/// An undirected multigraph as igraph stores it: edge `e` joins `from[e] >= to[e]`.
#[derive(Clone, Debug)]
pub struct Graph {
    pub n: usize,
    from: Vec<usize>,
    to: Vec<usize>,
    /// Each vertex's incident edges, by the other end, then by edge id (`igraph_incident`).
    inc: Vec<Vec<usize>>,
}

impl Graph {
    /// `igraph_create` from `(a, b)` pairs, in order.
    pub fn new(n: usize, edges: &[(usize, usize)]) -> Graph {
        let from: Vec<usize> = edges.iter().map(|&(a, b)| a.max(b)).collect();
        let to: Vec<usize> = edges.iter().map(|&(a, b)| a.min(b)).collect();
        let mut inc: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        for e in 0..edges.len() {
            inc[from[e]].push((to[e], e));
            if from[e] != to[e] {
                inc[to[e]].push((from[e], e));
            }
        }
        let inc = (inc.into_iter())
            .map(|mut v| {
                v.sort_unstable();
                v.into_iter().map(|(_, e)| e).collect()
            })
            .collect();
        Graph { n, from, to, inc }
    }

    fn other(&self, e: usize, v: usize) -> usize {
        if self.to[e] == v {
            self.from[e]
        } else {
            self.to[e]
        }
    }

    /// `igraph_strength(ALL, NO_LOOPS)` over all vertices: a pass over the edges adding each
    /// weight to its `from` end, then one adding it to its `to` end.
    fn strength(&self, w: &[f64]) -> Vec<f64> {
        let mut s = vec![0.0; self.n];
        let loops = |e: usize| self.from[e] == self.to[e];
        for e in (0..w.len()).filter(|&e| !loops(e)) {
            s[self.from[e]] += w[e];
        }
        for e in (0..w.len()).filter(|&e| !loops(e)) {
            s[self.to[e]] += w[e];
        }
        s
    }
}

/// A graph's edge weights and vertex weights, with the membership being improved.
struct Level {
    graph: Graph,
    w: Vec<f64>,
    vw: Vec<f64>,
    membership: Vec<usize>,
}

/// Modularity clusters of `graph` (edge weights `w`) at `resolution`: python-igraph's
/// `community_leiden(objective_function="modularity", weights, resolution, beta, n_iterations)`
/// from singletons.
pub fn leiden_modularity(
    graph: &Graph,
    w: &[f64],
    resolution: f64,
    beta: f64,
    n_iterations: usize,
    rng: &mut IgraphRng,
) -> Vec<usize> {
    let vw = graph.strength(w);
    let resolution = resolution / vw.iter().sum::<f64>();
    let mut membership: Vec<usize> = (0..graph.n).collect();
    for _ in 0..n_iterations {
        community_leiden(graph, w, &vw, resolution, beta, &mut membership, rng);
    }
    membership
}

/// `igraph_reindex_membership`: clusters renumbered by first appearance; returns their count.
fn reindex(membership: &mut [usize]) -> usize {
    let mut new = vec![usize::MAX; membership.len()];
    let mut next = 0;
    for m in membership.iter_mut() {
        if new[*m] == usize::MAX {
            new[*m] = next;
            next += 1;
        }
        *m = new[*m];
    }
    next
}

/// One iteration: move, refine, aggregate, until every cluster is one aggregate vertex.
fn community_leiden(
    graph: &Graph,
    w: &[f64],
    vw: &[f64],
    resolution: f64,
    beta: f64,
    membership: &mut [usize],
    rng: &mut IgraphRng,
) {
    let n = graph.n;
    let mut aggregate_vertex: Vec<usize> = (0..n).collect();
    reindex(membership);
    let mut level = Level {
        graph: graph.clone(),
        w: w.to_vec(),
        vw: vw.to_vec(),
        membership: membership.to_vec(),
    };
    let mut depth = 0;
    loop {
        let nb_clusters = fastmove(&mut level, resolution, rng);
        if depth == 0 {
            membership.copy_from_slice(&level.membership);
        }
        if nb_clusters >= level.graph.n {
            return;
        }
        if depth > 0 {
            for i in 0..n {
                membership[i] = level.membership[aggregate_vertex[i]];
            }
        }
        let clusters = members(&level.membership, nb_clusters);
        let mut refined = vec![0usize; level.graph.n];
        let mut nb_refined = 0;
        for (c, cluster) in clusters.iter().enumerate() {
            let merge = Merge {
                level: &level,
                subset: cluster,
                cluster: c,
                resolution,
                beta,
            };
            merge.run(&mut nb_refined, &mut refined, rng);
        }
        if nb_refined >= level.graph.n {
            refined.clone_from(&level.membership);
            nb_refined = nb_clusters;
        }
        for a in aggregate_vertex.iter_mut() {
            *a = refined[*a];
        }
        level = aggregate(&level, &refined, nb_refined);
        depth += 1;
    }
}

/// `leiden_get_clusters`: each cluster's vertices, ascending.
fn members(membership: &[usize], nb_clusters: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); nb_clusters];
    for (v, &c) in membership.iter().enumerate() {
        out[c].push(v);
    }
    out
}

/// `leiden_fastmove_vertices`: greedy moves from a queue of unstable vertices; returns the
/// number of clusters after renumbering.
fn fastmove(level: &mut Level, resolution: f64, rng: &mut IgraphRng) -> usize {
    let Level {
        graph,
        w,
        vw,
        membership,
    } = level;
    let n = graph.n;
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut queue: std::collections::VecDeque<usize> = order.into_iter().collect();
    let mut stable = vec![false; n];
    let mut cluster_w = vec![0.0; n];
    let mut size = vec![0usize; n];
    for i in 0..n {
        cluster_w[membership[i]] += vw[i];
        size[membership[i]] += 1;
    }
    let mut empty: Vec<usize> = (0..n).filter(|&c| size[c] == 0).collect();
    let mut to_cluster = vec![0.0; n];
    let mut added = vec![false; n];
    let mut neighbours: Vec<usize> = Vec::with_capacity(n);
    while let Some(v) = queue.pop_front() {
        let current = membership[v];
        cluster_w[current] -= vw[v];
        size[current] -= 1;
        if size[current] == 0 {
            empty.push(current);
        }
        neighbours.clear();
        let top = *empty
            .last()
            .expect("a cluster is empty once v leaves its own");
        neighbours.push(top);
        added[top] = true;
        for &e in &graph.inc[v] {
            let u = graph.other(e, v);
            if u != v {
                let c = membership[u];
                if !added[c] {
                    added[c] = true;
                    neighbours.push(c);
                }
                to_cluster[c] += w[e];
            }
        }
        let mut best = current;
        let mut max_diff = to_cluster[current] - vw[v] * cluster_w[current] * resolution;
        for &c in &neighbours {
            let diff = to_cluster[c] - vw[v] * cluster_w[c] * resolution;
            if diff > max_diff {
                best = c;
                max_diff = diff;
            }
            to_cluster[c] = 0.0;
            added[c] = false;
        }
        cluster_w[best] += vw[v];
        size[best] += 1;
        if empty.last() == Some(&best) {
            empty.pop();
        }
        stable[v] = true;
        if best != current {
            membership[v] = best;
            for &e in &graph.inc[v] {
                let u = graph.other(e, v);
                if stable[u] && membership[u] != best {
                    queue.push_back(u);
                    stable[u] = false;
                }
            }
        }
    }
    reindex(membership)
}

/// `leiden_merge_vertices`: the refinement of one cluster, from singletons, each singleton
/// merged at most once into a random well-connected subcluster.
struct Merge<'a> {
    level: &'a Level,
    subset: &'a [usize],
    cluster: usize,
    resolution: f64,
    beta: f64,
}

/// The subclusters of one refinement, indexed by their place in the subset.
struct Subclusters {
    weight: Vec<f64>,
    /// The summed vertex weight of the whole subset.
    total: f64,
    /// The weight of each subcluster's edges to the rest of the subset.
    external: Vec<f64>,
    non_singleton: Vec<bool>,
}

impl Merge<'_> {
    fn run(&self, nb_refined: &mut usize, refined: &mut [usize], rng: &mut IgraphRng) {
        let mut sub = self.singletons(refined);
        let mut order = self.subset.to_vec();
        rng.shuffle(&mut order);
        for &v in &order {
            let current = refined[v];
            if sub.non_singleton[current] || !self.well_connected(&sub, current) {
                continue;
            }
            sub.weight[current] = 0.0;
            let chosen = self.choose(&sub, v, refined, rng);
            let Level { graph, w, vw, .. } = self.level;
            sub.weight[chosen] += vw[v];
            for &e in &graph.inc[v] {
                let u = graph.other(e, v);
                if self.inside(u) {
                    if refined[u] == chosen {
                        sub.external[chosen] -= w[e];
                    } else {
                        sub.external[chosen] += w[e];
                    }
                }
            }
            if chosen != current {
                refined[v] = chosen;
                sub.non_singleton[chosen] = true;
            }
        }
        clean(self.subset, refined, nb_refined);
    }

    fn inside(&self, u: usize) -> bool {
        self.level.membership[u] == self.cluster
    }

    /// Every vertex of the subset its own subcluster.
    fn singletons(&self, refined: &mut [usize]) -> Subclusters {
        let Level { graph, w, vw, .. } = self.level;
        let n = self.subset.len();
        let mut sub = Subclusters {
            weight: vec![0.0; n],
            total: 0.0,
            external: vec![0.0; n],
            non_singleton: vec![false; n],
        };
        for (i, &v) in self.subset.iter().enumerate() {
            refined[v] = i;
            sub.weight[i] += vw[v];
            sub.total += vw[v];
            for &e in &graph.inc[v] {
                let u = graph.other(e, v);
                if u != v && self.inside(u) {
                    sub.external[i] += w[e];
                }
            }
        }
        sub
    }

    fn well_connected(&self, sub: &Subclusters, c: usize) -> bool {
        sub.external[c] >= sub.weight[c] * (sub.total - sub.weight[c]) * self.resolution
    }

    /// Where `v` (taken out of its subcluster) goes: among its own and its neighbours'
    /// well-connected subclusters that do not lower the quality, at random with weights
    /// exp(gain / β); the best one when those overflow.
    fn choose(&self, sub: &Subclusters, v: usize, refined: &[usize], rng: &mut IgraphRng) -> usize {
        let Level { graph, w, vw, .. } = self.level;
        let current = refined[v];
        let mut neighbours = vec![current];
        let mut to_cluster: std::collections::HashMap<usize, f64> = Default::default();
        to_cluster.insert(current, 0.0);
        for &e in &graph.inc[v] {
            let u = graph.other(e, v);
            if u != v && self.inside(u) {
                let c = refined[u];
                let slot = to_cluster.entry(c).or_insert_with(|| {
                    neighbours.push(c);
                    0.0
                });
                *slot += w[e];
            }
        }
        let (mut best, mut max_diff, mut total) = (current, 0.0, 0.0);
        let mut cum = Vec::with_capacity(neighbours.len());
        for &c in &neighbours {
            if self.well_connected(sub, c) {
                let diff = to_cluster[&c] - vw[v] * sub.weight[c] * self.resolution;
                if diff > max_diff {
                    best = c;
                    max_diff = diff;
                }
                if diff >= 0.0 {
                    total += (diff / self.beta).exp();
                }
            }
            cum.push(total);
        }
        if total < f64::INFINITY {
            let r = rng.unif(0.0, total);
            neighbours[binsearch(&cum, r)]
        } else {
            best
        }
    }
}

/// `igraph_vector_binsearch_slice`: the index of `what` if found, else where it would go.
fn binsearch(v: &[f64], what: f64) -> usize {
    let (mut left, mut right) = (0isize, v.len() as isize - 1);
    while left <= right {
        let middle = left + ((right - left) >> 1);
        let m = v[middle as usize];
        if m > what {
            right = middle - 1;
        } else if m < what {
            left = middle + 1;
        } else {
            return middle as usize;
        }
    }
    left as usize
}

/// `leiden_clean_refined_membership`: the subset's subclusters numbered from `nb_refined`, by
/// first appearance.
fn clean(subset: &[usize], refined: &mut [usize], nb_refined: &mut usize) {
    let mut new = vec![usize::MAX; subset.len()];
    for &v in subset {
        let c = refined[v];
        if new[c] == usize::MAX {
            new[c] = *nb_refined;
            *nb_refined += 1;
        }
    }
    for &v in subset {
        refined[v] = new[refined[v]];
    }
}

/// `leiden_aggregate`: one vertex per refined cluster, starting in its cluster's membership.
fn aggregate(level: &Level, refined: &[usize], nb_refined: usize) -> Level {
    let Level {
        graph,
        w,
        vw,
        membership,
    } = level;
    let clusters = members(refined, nb_refined);
    let mut edges = Vec::new();
    let mut weights = Vec::new();
    let mut agg_vw = vec![0.0; nb_refined];
    let mut agg_membership = vec![0usize; nb_refined];
    let mut to_cluster = vec![0.0; nb_refined];
    let mut added = vec![false; nb_refined];
    let mut neighbours: Vec<usize> = Vec::new();
    for (c, cluster) in clusters.iter().enumerate() {
        neighbours.clear();
        for &v in cluster {
            for &e in &graph.inc[v] {
                let c2 = refined[graph.other(e, v)];
                if c2 > c {
                    if !added[c2] {
                        added[c2] = true;
                        neighbours.push(c2);
                    }
                    to_cluster[c2] += w[e];
                }
            }
            agg_vw[c] += vw[v];
        }
        for &c2 in &neighbours {
            edges.push((c, c2));
            weights.push(to_cluster[c2]);
            to_cluster[c2] = 0.0;
            added[c2] = false;
        }
        if let Some(&v) = cluster.last() {
            agg_membership[c] = membership[v];
        }
    }
    Level {
        graph: Graph::new(nb_refined, &edges),
        w: weights,
        vw: agg_vw,
        membership: agg_membership,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two triangles joined by one light edge split into the two triangles.
    #[test]
    fn two_triangles_are_two_clusters() {
        let edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)];
        let w = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1];
        let g = Graph::new(6, &edges);
        let m = leiden_modularity(&g, &w, 1.0, 0.01, 2, &mut IgraphRng::scanpy());
        assert_eq!(m[0], m[1]);
        assert_eq!(m[1], m[2]);
        assert_eq!(m[3], m[4]);
        assert_eq!(m[4], m[5]);
        assert_ne!(m[0], m[3]);
    }

    #[test]
    fn binsearch_finds_or_places() {
        let v = [1.0, 2.0, 2.0, 5.0];
        assert_eq!(binsearch(&v, 0.5), 0);
        assert_eq!(binsearch(&v, 3.0), 3);
        assert_eq!(binsearch(&v, 6.0), 4);
        assert_eq!(binsearch(&v, 5.0), 3);
    }
}
