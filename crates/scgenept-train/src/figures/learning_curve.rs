//! The learning curve of a run: train and validation loss per epoch (`train_log.csv`), every
//! optimiser step's loss drawn faintly behind them (`train_batches.csv`), and the epoch whose
//! model was tested marked.

use crate::run::dir::RunDir;
use std::path::Path;

use anyhow::{bail, Context, Result};
use plotters::prelude::*;

use crate::figures::plots::{render_png, FONT, PALETTE};

/// What the figure shows.
#[derive(Debug, Clone)]
pub struct LearningCurve {
    pub title: String,
    /// (epoch, train loss, validation loss).
    pub epochs: Vec<(f64, f64, f64)>,
    /// (x, loss) per optimiser step; epoch `k`'s steps spread over `k - 0.5 .. k + 0.5`.
    pub steps: Vec<(f64, f64)>,
    /// The epoch whose model the test metrics come from.
    pub tested: Option<usize>,
}

/// Numbered rows of a CSV with a header, split on commas.
fn rows(path: &Path, text: &str) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let row: Option<Vec<f64>> = line.split(',').map(|s| s.trim().parse().ok()).collect();
        out.push(row.with_context(|| format!("{}: line {}: not numbers", path.display(), i + 1))?);
    }
    Ok(out)
}

impl LearningCurve {
    /// From a run directory's `train_log.csv` and, when present, `train_batches.csv`.
    pub fn read(run: &RunDir, tested: Option<usize>, title: &str) -> Result<Self> {
        let log = run.train_log();
        let text = std::fs::read_to_string(&log)
            .with_context(|| format!("{}: cannot read", log.display()))?;
        let mut epochs = Vec::new();
        for r in rows(&log, &text)? {
            if r.len() < 4 {
                bail!("{}: expected epoch,lr,train_loss,val_loss,…", log.display());
            }
            epochs.push((r[0], r[2], r[3]));
        }
        if epochs.is_empty() {
            bail!("{}: no epochs logged", log.display());
        }
        let batches = run.batch_log();
        let steps = match std::fs::read_to_string(&batches) {
            Ok(text) => spread_steps(&rows(&batches, &text)?),
            Err(_) => Vec::new(), // runs from before the per-step log
        };
        Ok(Self {
            title: title.to_string(),
            epochs,
            steps,
            tested,
        })
    }

    pub fn draw(&self, out: &Path) -> Result<()> {
        let epoch_losses = self.epochs.iter().flat_map(|r| [r.1, r.2]);
        let all = epoch_losses.chain(self.steps.iter().map(|s| s.1));
        let (lo, hi) = all
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        if !lo.is_finite() {
            bail!("no finite losses to plot");
        }
        let max_epoch = self.epochs.iter().map(|r| r.0).fold(1.0, f64::max);
        let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-6);
        let y = (lo - pad)..(hi + pad);
        render_png(out, (800, 480), |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(&self.title, (FONT, 22))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d(0.5f64..(max_epoch + 0.5), y.clone())?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("MSE")
                .light_line_style(WHITE)
                .x_labels(max_epoch as usize)
                .x_label_formatter(&|x| {
                    if (x - x.round()).abs() < 1e-6 {
                        format!("{x:.0}")
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|v| crate::figures::plots::tick(*v, y.end - y.start))
                .label_style((FONT, 14))
                .draw()?;
            if let Some(t) = self.tested {
                let grey = RGBColor(150, 150, 150);
                let t = t as f64;
                chart
                    .draw_series([PathElement::new(
                        vec![(t, y.start), (t, y.end)],
                        grey.stroke_width(2),
                    )])?
                    .label(format!("tested model (epoch {t})"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey));
            }
            let faint = PALETTE[0].mix(0.25);
            chart
                .draw_series(
                    self.steps
                        .iter()
                        .filter(|s| s.1.is_finite())
                        .map(|s| Circle::new(*s, 2, faint.filled())),
                )?
                .label("train loss per step")
                .legend(move |(x, y)| Circle::new((x + 10, y), 3, faint.filled()));
            self.draw_epoch_lines(&mut chart)?;
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font((FONT, 14))
                .draw()?;
            Ok(())
        })
    }

    fn draw_epoch_lines<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<
            DB,
            Cartesian2d<
                plotters::coord::types::RangedCoordf64,
                plotters::coord::types::RangedCoordf64,
            >,
        >,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        for (k, (name, colour)) in [
            ("train loss (epoch mean)", PALETTE[0]),
            ("validation loss", PALETTE[5]),
        ]
        .into_iter()
        .enumerate()
        {
            let pts: Vec<(f64, f64)> = self
                .epochs
                .iter()
                .map(|r| (r.0, if k == 0 { r.1 } else { r.2 }))
                .filter(|p| p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))?;
        }
        Ok(())
    }
}

/// (epoch, batch, loss) rows → x positions: epoch `k`'s `n` steps evenly over `k ± 0.5`.
fn spread_steps(rows: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let mut per_epoch: std::collections::BTreeMap<i64, usize> = Default::default();
    for r in rows.iter().filter(|r| r.len() >= 3) {
        *per_epoch.entry(r[0] as i64).or_default() += 1;
    }
    rows.iter()
        .filter(|r| r.len() >= 3)
        .map(|r| {
            let n = per_epoch[&(r[0] as i64)] as f64;
            (r[0] - 0.5 + (r[1] - 0.5) / n, r[2])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_spread_over_their_epoch() {
        let rows = vec![
            vec![1.0, 1.0, 0.9],
            vec![1.0, 2.0, 0.8],
            vec![2.0, 1.0, 0.7],
            vec![2.0, 2.0, 0.6],
        ];
        let xs: Vec<f64> = spread_steps(&rows).iter().map(|s| s.0).collect();
        assert_eq!(xs, vec![0.75, 1.25, 1.75, 2.25]);
    }

    #[test]
    fn the_curve_is_a_png_and_other_extensions_are_refused() {
        let dir = std::env::temp_dir().join(format!("scgenept-curve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("train_log.csv"),
            "epoch,lr,train_loss,val_loss,seconds\n1,0.001,0.5,0.6,1\n2,0.0009,0.4,0.55,1\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("train_batches.csv"),
            "epoch,batch,loss\n1,1,0.55\n1,2,0.45\n2,1,0.42\n2,2,0.38\n",
        )
        .unwrap();
        let curve = LearningCurve::read(&RunDir::new(&dir), Some(2), "run").unwrap();
        assert_eq!(curve.steps.len(), 4);
        let out = dir.join("curve.png");
        curve.draw(&out).unwrap();
        assert_eq!(&std::fs::read(&out).unwrap()[1..4], b"PNG");
        let err = curve.draw(&dir.join("curve.svg")).unwrap_err();
        assert!(format!("{err:#}").contains("PNG"), "{err:#}");
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp-")
            })
            .count();
        assert_eq!(leftovers, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
