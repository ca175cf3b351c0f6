//! Figures as PNG: the GEARS-style perturbation figure, learning curves and the sweep's bar plot.
//!
//! plotters renders with an embedded DejaVu Sans (ab_glyph), so figures look the same on every
//! machine and need no system fonts. Every figure is drawn to a temporary file beside its target
//! and renamed into place: a crash never leaves a half-drawn PNG.

use std::path::Path;

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

use scgenept_data::PerturbData;

use crate::metrics::DeGenes;

const FONT: &str = "sans-serif";
/// Up to eight colours for the methods of a bar plot (Okabe–Ito, colour-blind safe).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
        // The embedded font is known to parse; a failure here is a build defect.
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("embedded DejaVuSans.ttf does not parse"));
    });
}

/// Draws with `draw` into a temporary PNG beside `out`, then renames it into place.
fn render_png(
    out: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    if out.extension().and_then(|e| e.to_str()) != Some("png") {
        bail!(
            "{}: figures are written as PNG; name the file *.png",
            out.display()
        );
    }
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(d) = dir {
        std::fs::create_dir_all(d).with_context(|| format!("{}: cannot create", d.display()))?;
    }
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("figure");
    let tmp = out.with_file_name(format!(".{stem}.tmp-{}.png", std::process::id()));
    let result = (|| -> Result<()> {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("{}: figure not written", out.display())));
    }
    std::fs::rename(&tmp, out).with_context(|| format!("{}: cannot write", out.display()))
}

/// What the GEARS figure shows for one perturbation: per top-20 non-dropout DE gene, the observed
/// change from the control mean in every perturbed cell, and the predicted mean change.
#[derive(Debug, Clone)]
pub struct PerturbationFigure {
    pub condition: String,
    pub genes: Vec<String>,
    /// `observed[g]`: one value per cell of the condition (cell − control mean).
    pub observed: Vec<Vec<f64>>,
    /// Predicted mean − control mean, per gene.
    pub predicted: Vec<f64>,
}

impl PerturbationFigure {
    /// GEARS' `plot_perturbation`: genes are `top_non_dropout_de_20[condition_name]` in rank order
    /// (falling back to the top-20 of `rank_genes_groups_cov_all` when absent).
    pub fn new(
        data: &PerturbData,
        ctrl_mean: &[f64],
        condition: &str,
        predicted_mean: &[f64],
    ) -> Result<Self> {
        let k = data
            .conditions
            .iter()
            .position(|c| c == condition)
            .with_context(|| format!("{condition}: no cells of this condition in the data"))?;
        let de = DeGenes::of(data, condition)
            .with_context(|| format!("{condition}: the data has no DE genes for this condition"))?;
        let genes = if de.top20_non_dropout.is_empty() {
            de.top20
        } else {
            de.top20_non_dropout
        };
        let cells: Vec<u32> = data
            .cell_condition
            .iter()
            .enumerate()
            .filter(|(_, c)| **c as usize == k)
            .map(|(i, _)| i as u32)
            .collect();
        let mut row = vec![0f32; data.n_genes()];
        let mut observed = vec![Vec::with_capacity(cells.len()); genes.len()];
        for &c in &cells {
            data.x.row_into(c as usize, &mut row);
            for (o, &g) in observed.iter_mut().zip(&genes) {
                o.push(row[g] as f64 - ctrl_mean[g]);
            }
        }
        Ok(Self {
            condition: condition.to_string(),
            predicted: genes
                .iter()
                .map(|&g| predicted_mean[g] - ctrl_mean[g])
                .collect(),
            genes: genes.iter().map(|&g| data.gene_names[g].clone()).collect(),
            observed,
        })
    }

    /// One horizontal box per gene in DE rank order, top to bottom (quartiles, whiskers at 1.5
    /// IQR as seaborn), a red dot at the prediction, a line at zero change. Horizontal so the
    /// gene names read without rotation.
    pub fn draw(&self, out: &Path) -> Result<()> {
        let boxes: Vec<[f64; 5]> = self.observed.iter().map(|v| box_stats(v)).collect();
        let (mut lo, mut hi) = (0f64, 0f64);
        for (b, p) in boxes.iter().zip(&self.predicted) {
            lo = lo.min(b[0]).min(*p);
            hi = hi.max(b[4]).max(*p);
        }
        let pad = ((hi - lo) * 0.08).max(1e-3);
        let n = self.genes.len();
        let genes = self.genes.clone();
        // Gene i sits at y = n - 1 - i so the top DE gene is on top.
        let y_of = |i: usize| (n - 1 - i) as f64;
        let height = (140 + 26 * n as u32).max(300);
        render_png(out, (900, height), |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(
                    format!(
                        "{}: top DE genes (boxes: observed cells; red: predicted mean)",
                        self.condition
                    ),
                    (FONT, 18),
                )
                .margin(14)
                .x_label_area_size(45)
                .y_label_area_size(110)
                .build_cartesian_2d((lo - pad)..(hi + pad), -0.6f64..(n as f64 - 0.4))?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .light_line_style(WHITE)
                .y_labels(n.max(1))
                .y_label_formatter(&|y| {
                    let i = y.round();
                    if (y - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < genes.len() {
                        genes[genes.len() - 1 - i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .x_desc("change in expression over the control mean")
                .label_style((FONT, 14))
                .draw()?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.0, -0.6), (0.0, n as f64 - 0.4)],
                RGBColor(120, 120, 120).stroke_width(1),
            )))?;
            let edge = RGBColor(60, 60, 60);
            for (i, b) in boxes.iter().enumerate() {
                let y = y_of(i);
                chart.draw_series([
                    PathElement::new(vec![(b[0], y), (b[1], y)], edge.stroke_width(1)),
                    PathElement::new(vec![(b[3], y), (b[4], y)], edge.stroke_width(1)),
                ])?;
                chart.draw_series([Rectangle::new(
                    [(b[1], y - 0.3), (b[3], y + 0.3)],
                    RGBColor(200, 200, 200).filled(),
                )])?;
                chart.draw_series([
                    Rectangle::new([(b[1], y - 0.3), (b[3], y + 0.3)], edge.stroke_width(1)),
                    Rectangle::new([(b[2], y - 0.3), (b[2], y + 0.3)], edge.stroke_width(2)),
                ])?;
            }
            chart.draw_series(
                self.predicted
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Circle::new((*p, y_of(i)), 5, RED.filled())),
            )?;
            Ok(())
        })
    }
}

/// [lower whisker, q1, median, q3, upper whisker] with whiskers at the furthest points within
/// 1.5 IQR (matplotlib/seaborn's default); linear-interpolated quartiles as numpy.
pub fn box_stats(values: &[f64]) -> [f64; 5] {
    if values.is_empty() {
        return [0.0; 5];
    }
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return [0.0; 5];
    }
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (i, f) = (pos.floor() as usize, pos.fract());
        if i + 1 < v.len() {
            v[i] + f * (v[i + 1] - v[i])
        } else {
            v[i]
        }
    };
    let (q1, med, q3) = (q(0.25), q(0.5), q(0.75));
    let iqr = q3 - q1;
    let lo = v
        .iter()
        .copied()
        .find(|x| *x >= q1 - 1.5 * iqr)
        .unwrap_or(q1);
    let hi = v
        .iter()
        .rev()
        .copied()
        .find(|x| *x <= q3 + 1.5 * iqr)
        .unwrap_or(q3);
    [lo, q1, med, q3, hi]
}

/// Train and validation loss per epoch from a run's `train_log.csv`.
pub fn learning_curve(train_log: &Path, title: &str, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(train_log)
        .with_context(|| format!("{}: cannot read", train_log.display()))?;
    let mut rows: Vec<(f64, f64, f64)> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |k: usize| -> Result<f64> {
            f.get(k)
                .and_then(|s| s.trim().parse().ok())
                .with_context(|| format!("{}: line {}: not a number", train_log.display(), i + 1))
        };
        rows.push((num(0)?, num(2)?, num(3)?));
    }
    if rows.is_empty() {
        bail!("{}: no epochs logged", train_log.display());
    }
    let max_epoch = rows.iter().map(|r| r.0).fold(1.0, f64::max);
    let finite = rows
        .iter()
        .flat_map(|r| [r.1, r.2])
        .filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() {
        bail!("{}: no finite losses to plot", train_log.display());
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.01).max(1e-6);
    render_png(out, (800, 480), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0.5f64..(max_epoch + 0.5), (lo - pad)..(hi + pad))?;
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
            .label_style((FONT, 14))
            .draw()?;
        for (k, (name, colour)) in [("train loss", PALETTE[0]), ("validation loss", PALETTE[5])]
            .into_iter()
            .enumerate()
        {
            let pts: Vec<(f64, f64)> = rows
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
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font((FONT, 14))
            .draw()?;
        Ok(())
    })
}

/// One method's bars: its name and, per group, (mean, CI half-width) or a gap.
pub type BarSeries = (String, Vec<Option<(f64, f64)>>);

/// One bar per method within each group, with an error bar (mean ± half-width); missing values
/// leave a gap.
pub struct GroupedBars<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub groups: &'a [String],
    pub series: &'a [BarSeries],
    /// The range the metric can take (a correlation: -1..1). Intervals reaching past it are cut
    /// at the bound and drawn without their cap there; the table keeps the full interval.
    pub bounds: Option<(f64, f64)>,
}

impl GroupedBars<'_> {
    pub fn draw(&self, out: &Path) -> Result<()> {
        let m = self.series.len().max(1);
        let values = self.series.iter().flat_map(|(_, v)| v.iter().flatten());
        let (mut lo, mut hi) = (0f64, 0f64);
        let (min, max) = self.bounds.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        for (mean, half) in values {
            let half = if half.is_finite() { *half } else { 0.0 };
            lo = lo.min((mean - half).max(min));
            hi = hi.max((mean + half).min(max));
        }
        if hi - lo < 1e-9 {
            hi = lo + 1.0;
        }
        let pad = (hi - lo) * 0.06;
        let groups = self.groups.to_vec();
        let width = (160 + 40 * m * self.groups.len()).clamp(700, 1800) as u32;
        render_png(out, (width, 560), |root| {
            let (plot, legend) = root.split_horizontally(width - 300);
            let mut chart = ChartBuilder::on(&plot)
                .caption(self.title, (FONT, 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    -0.5f64..(groups.len() as f64 - 0.5),
                    (lo - pad).min(0.0)..(hi + pad),
                )?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(WHITE)
                .x_labels(groups.len().max(1))
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < groups.len() {
                        groups[i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .y_desc(self.y_label)
                .label_style((FONT, 14))
                .draw()?;
            let bar_w = 0.8 / m as f64;
            for (s, (_, vals)) in self.series.iter().enumerate() {
                let colour = PALETTE[s % PALETTE.len()];
                for (g, v) in vals.iter().enumerate() {
                    let Some((mean, half)) = v else { continue };
                    let x0 = g as f64 - 0.4 + s as f64 * bar_w;
                    let xc = x0 + bar_w / 2.0;
                    chart.draw_series([Rectangle::new(
                        [(x0 + bar_w * 0.05, 0.0), (x0 + bar_w * 0.95, *mean)],
                        colour.filled(),
                    )])?;
                    if half.is_finite() && *half > 0.0 {
                        let e = BLACK.stroke_width(1);
                        let cap = bar_w * 0.2;
                        let (a, b) = ((mean - half).max(min), (mean + half).min(max));
                        let mut lines = vec![PathElement::new(vec![(xc, a), (xc, b)], e)];
                        for (y, cut) in [(a, mean - half < min), (b, mean + half > max)] {
                            if !cut {
                                lines.push(PathElement::new(vec![(xc - cap, y), (xc + cap, y)], e));
                            }
                        }
                        chart.draw_series(lines)?;
                    }
                }
            }
            for (s, (name, _)) in self.series.iter().enumerate() {
                let y = 40 + 24 * s as i32;
                let colour = PALETTE[s % PALETTE.len()];
                legend.draw(&Rectangle::new([(10, y), (26, y + 14)], colour.filled()))?;
                legend.draw(&Text::new(name.clone(), (32, y), (FONT, 14).into_font()))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_stats_match_numpy_percentiles() {
        // numpy.percentile([1..=9, 100], [25, 50, 75]) = 3.25, 5.5, 7.75; 100 is an outlier.
        let v: Vec<f64> = (1..=9).map(f64::from).chain([100.0]).collect();
        let b = box_stats(&v);
        assert_eq!(&b[1..4], &[3.25, 5.5, 7.75]);
        assert_eq!((b[0], b[4]), (1.0, 9.0));
    }

    #[test]
    fn figures_are_png_files_and_refuse_other_extensions() {
        let dir = std::env::temp_dir().join(format!("scgenept-plots-{}", std::process::id()));
        let log = dir.join("train_log.csv");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &log,
            "epoch,lr,train_loss,val_loss,seconds\n1,0.001,0.5,0.6,1\n2,0.0009,0.4,0.55,1\n",
        )
        .unwrap();
        let out = dir.join("curve.png");
        learning_curve(&log, "run", &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        let err = learning_curve(&log, "run", &dir.join("curve.svg")).unwrap_err();
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
