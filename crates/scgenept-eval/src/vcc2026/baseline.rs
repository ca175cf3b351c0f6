//! The 0 end of the vcc2026 scale: cell-eval2's generic-response baseline arm (`cell-eval2
//! baseline --emit dispersed --seed 0`, docs/evaluation.md, "vcc2026"). Every perturbation is
//! predicted as the same response, the mean of the real perturbations' mean cells (each
//! perturbation's own gene left out of its gene's mean), emitted as cells: control cells drawn
//! with replacement (numpy's `default_rng(seed).integers`) and scaled per gene by that response
//! over the control mean.

use scgenept_data::csr::CsrMatrix;
use scgenept_data::numpy_pcg64::Pcg64;

use super::targets::Targets;
use crate::pair::Cells;

/// The baseline arm of `real`: its control cells as they are, and for each perturbation (sorted)
/// as many emitted cells as it has real ones.
pub fn baseline_arm(real: &Cells, control: &str, seed: u64) -> anyhow::Result<Cells> {
    let groups = real.rows_by_label();
    let Some(ctrl_rows) = groups.get(control) else {
        anyhow::bail!("the real cells have no control group '{control}'");
    };
    let profile = generic_response(real, control)?;
    let ctrl_mean = real.scipy_mean(ctrl_rows, None);
    let scale: Vec<f64> = (profile.iter().zip(&ctrl_mean))
        .map(|(p, c)| if *c <= 0.0 { 0.0 } else { p / c })
        .collect();
    let mut rng = Pcg64::seed(seed);
    let mut x = CsrMatrix::with_cols(real.x.n_cols);
    let mut labels = Vec::new();
    let (mut cols, mut vals) = (Vec::new(), Vec::new());
    for (label, rows) in groups.iter().filter(|(l, _)| **l != control) {
        for _ in 0..rows.len() {
            let source = ctrl_rows[rng.integers(ctrl_rows.len() as u64) as usize];
            let (c, v) = real.x.row(source);
            cols.clear();
            vals.clear();
            for (c, v) in c.iter().zip(v) {
                let emitted = (*v as f64 * scale[*c as usize]) as f32;
                if emitted != 0.0 {
                    cols.push(*c);
                    vals.push(emitted);
                }
            }
            x.push_sparse_row(&cols, &vals);
            labels.push(label.to_string());
        }
    }
    x.append_rows(&real.x, ctrl_rows);
    labels.extend(ctrl_rows.iter().map(|_| control.to_string()));
    Ok(Cells {
        path: real.path.clone(),
        x,
        genes: real.genes.clone(),
        labels,
        // cell-eval2's arm is stored like the real X (CSR or dense); its means follow suit.
        sparse: real.sparse,
        synthetic: real.synthetic.clone(),
        categories: real.categories.clone(),
    })
}

/// The mean over perturbations of their mean cells, each gene's mean without the perturbations
/// that target it (cell-eval2's `generic_response_profile`).
fn generic_response(real: &Cells, control: &str) -> anyhow::Result<Vec<f64>> {
    let targets = Targets::new(&real.genes);
    let groups = real.rows_by_label();
    let perts: Vec<&str> = groups.keys().copied().filter(|l| *l != control).collect();
    if perts.len() < 2 {
        anyhow::bail!(
            "the generic-response baseline needs at least two perturbations besides the control \
             (leaving a perturbation's own gene out of a one-perturbation mean leaves nothing)"
        );
    }
    targets.require_some(&perts)?;
    let n_genes = real.x.n_cols;
    let means: Vec<Vec<f64>> = perts
        .iter()
        .map(|p| real.scipy_mean(&groups[p], None))
        .collect();
    let mut total = vec![0f64; n_genes];
    for mean in &means {
        total.iter_mut().zip(mean).for_each(|(t, m)| *t += m);
    }
    let mut count = vec![perts.len() as f64; n_genes];
    for (p, mean) in perts.iter().zip(&means) {
        if let Some(g) = targets.column(p) {
            total[g] -= mean[g];
            count[g] -= 1.0;
        }
    }
    if let Some(g) = (0..n_genes).find(|&g| count[g] <= 0.0) {
        anyhow::bail!(
            "every perturbation targets gene '{}', so the generic response there is undefined",
            real.genes[g]
        );
    }
    Ok(total.iter().zip(&count).map(|(t, c)| t / c).collect())
}
