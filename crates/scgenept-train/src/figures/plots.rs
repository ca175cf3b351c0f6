//! Figures as PNG: the GEARS-style perturbation figure and the sweep's bar plot (the learning
//! curve is in `learning_curve.rs`).
//!
//! plotters renders with an embedded DejaVu Sans (ab_glyph), so figures look the same on every
//! machine and need no system fonts. Every figure is drawn to a temporary file beside its target
//! and renamed into place: a crash never leaves a half-drawn PNG.

use std::path::Path;

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use scgenept_data::condition::single_gene;

use scgenept_data::PerturbData;

use scgenept_eval::metrics::DeGenes;

pub(crate) const FONT: &str = "sans-serif";
/// Distinct colours for the methods of a bar plot, most distinct first (Okabe–Ito, colour-blind
/// safe, then Paul Tol's muted scheme); beyond them, [`colour`] walks the hue circle.
pub(crate) const PALETTE: [RGBColor; 16] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(170, 68, 153),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
    RGBColor(60, 60, 60),
    RGBColor(204, 121, 167),
    RGBColor(153, 153, 51),
    RGBColor(51, 34, 136),
    RGBColor(136, 34, 85),
    RGBColor(68, 170, 153),
    RGBColor(221, 204, 119),
    RGBColor(150, 150, 150),
    RGBColor(17, 119, 51),
];

/// The `i`-th series colour: the palette, then hues 137.5° apart (never a repeat).
pub(crate) fn colour(i: usize) -> RGBColor {
    if let Some(c) = PALETTE.get(i) {
        return *c;
    }
    let hue = (i as f64 * 137.508) % 360.0;
    let c = HSLColor(hue / 360.0, 0.65, 0.45).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// An axis tick: as many decimals as the axis `span` needs, and never `-0.0`.
pub(crate) fn tick(v: f64, span: f64) -> String {
    let decimals = (1.0 - (span.abs().max(1e-12) / 10.0).log10().floor()).clamp(0.0, 6.0) as usize;
    let half_unit = 0.5 * 10f64.powi(-(decimals as i32));
    let v = if v.abs() < half_unit { 0.0 } else { v };
    format!("{v:.decimals$}")
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        // The embedded font is known to parse; a failure here is a build defect.
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("embedded DejaVuSans.ttf does not parse"));
    });
}

/// Draws with `draw` into an RGB buffer in memory, encodes it as PNG and writes it through the
/// atomic writer (`scgenept_data::files::write_atomic`: a device is written in place, a directory
/// refused), so a full disk is one plain I/O error and no temporary image is left behind.
pub(crate) fn render_png(
    out: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    use image::ImageEncoder;
    register_font();
    if out.extension().and_then(|e| e.to_str()) != Some("png") {
        bail!(
            "{}: figures are written as PNG; name the file *.png",
            out.display()
        );
    }
    scgenept_data::files::destination(out)
        .with_context(|| format!("{}: cannot write the figure there", out.display()))?;
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root).with_context(|| format!("{}: figure not drawn", out.display()))?;
        root.present()?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, w, h, image::ColorType::Rgb8)
        .with_context(|| format!("{}: cannot encode the figure", out.display()))?;
    scgenept_data::files::write_atomic(out, &png)
        .with_context(|| format!("{}: cannot write", out.display()))
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
    /// The data is synthetic (`uns/synthetic`): the title says so.
    pub synthetic: bool,
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
            synthetic: data.synthetic.is_some(),
        })
    }

    /// `KLF1 (n = 120 cells)`: a single gene without GEARS' `+ctrl`, then how many cells the
    /// boxes summarise, and SYNTHETIC when the data is.
    pub fn title(&self) -> String {
        let name = single_gene(&self.condition).unwrap_or(&self.condition);
        let n = self.observed.first().map_or(0, Vec::len);
        let cells = if n == 1 { "cell" } else { "cells" };
        let tag = if self.synthetic {
            " — SYNTHETIC data"
        } else {
            ""
        };
        format!("{name} (n = {n} {cells}): top DE genes{tag}")
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
                .caption(self.title(), (FONT, 18))
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
                .x_desc(
                    "change over the control mean (boxes: observed cells; red dot: predicted mean)",
                )
                .x_label_formatter(&|v| tick(*v, hi - lo))
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

/// One method's bars: its name and, per group, (mean, CI half-width) or a gap.
pub type BarSeries = (String, Vec<Option<(f64, f64)>>);

/// One bar per method within each group, with an error bar (mean ± half-width); missing values
/// leave a gap.
pub struct GroupedBars<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub groups: &'a [String],
    pub series: &'a [BarSeries],
    /// The range the metric can take (a correlation: -1..1): the axis never reaches past it.
    pub bounds: Option<(f64, f64)>,
}

/// The y axis of a bar plot: it holds zero, every mean, and each interval up to a quarter of the
/// means' span beyond them (inside `bounds`). An interval reaching further (few seeds, one
/// condition) is cut at the axis and marked with an arrowhead; the tables keep its full width.
fn bar_axis(series: &[BarSeries], bounds: Option<(f64, f64)>) -> (f64, f64) {
    let (min, max) = bounds.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let means = series.iter().flat_map(|(_, v)| v.iter().flatten());
    let (lo_m, hi_m) = means
        .clone()
        .fold((0f64, 0f64), |(a, b), (m, _)| (a.min(*m), b.max(*m)));
    let reach = 0.25 * (hi_m - lo_m).max(0.1);
    let (mut lo, mut hi) = (lo_m, hi_m);
    for (mean, half) in means {
        let half = if half.is_finite() { *half } else { 0.0 };
        lo = lo.min((mean - half).max(lo_m - reach).max(min));
        hi = hi.max((mean + half).min(hi_m + reach).min(max));
    }
    let pad = (hi - lo).max(1e-9) * 0.06;
    ((lo - pad).max(min), (hi + pad).min(max))
}

impl GroupedBars<'_> {
    pub fn draw(&self, out: &Path) -> Result<()> {
        let m = self.series.len().max(1);
        let (lo, hi) = bar_axis(self.series, self.bounds);
        let groups = self.groups.to_vec();
        // The legend is as wide as the longest method name (about 7 px a character at 14 px).
        let longest = self
            .series
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(0);
        let legend_w = (50 + 7 * longest).clamp(300, 700) as u32;
        let width = (160 + 40 * m * self.groups.len()).clamp(700, 1800) as u32 + legend_w - 300;
        let mut cut_any = false;
        render_png(out, (width, 560), |root| {
            let (plot, legend) = root.split_horizontally(width - legend_w);
            let mut chart = ChartBuilder::on(&plot)
                .caption(self.title, (FONT, 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(-0.5f64..(groups.len() as f64 - 0.5), lo..hi)?;
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
                .y_label_formatter(&|v| tick(*v, hi - lo))
                .y_desc(self.y_label)
                .label_style((FONT, 14))
                .draw()?;
            let bar_w = 0.8 / m as f64;
            for (s, (_, vals)) in self.series.iter().enumerate() {
                for (g, v) in vals.iter().enumerate() {
                    let Some((mean, half)) = v else { continue };
                    let x0 = g as f64 - 0.4 + s as f64 * bar_w;
                    chart.draw_series([Rectangle::new(
                        [
                            (x0 + bar_w * 0.05, 0f64.clamp(lo, hi)),
                            (x0 + bar_w * 0.95, *mean),
                        ],
                        colour(s).filled(),
                    )])?;
                    if half.is_finite() && *half > 0.0 {
                        let xc = x0 + bar_w / 2.0;
                        cut_any |=
                            draw_interval(&mut chart, xc, bar_w * 0.2, (*mean, *half), (lo, hi))?;
                    }
                }
            }
            for (s, (name, _)) in self.series.iter().enumerate() {
                let y = 40 + 24 * s as i32;
                legend.draw(&Rectangle::new([(10, y), (26, y + 14)], colour(s).filled()))?;
                legend.draw(&Text::new(name.clone(), (32, y), (FONT, 14).into_font()))?;
            }
            if cut_any {
                let y = 40 + 24 * self.series.len() as i32 + 12;
                legend.draw(&arrowhead((18, y + 2), true))?;
                legend.draw(&Text::new(
                    "interval goes on past the axis",
                    (32, y - 5),
                    (FONT, 13).into_font(),
                ))?;
            }
            Ok(())
        })
    }
}

type Chart<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// An error bar at `x` for `(mean, half)`, cut to the axis `(lo, hi)`: a cap where it ends, an
/// arrowhead where it is cut. Returns whether it was cut.
fn draw_interval(
    chart: &mut Chart,
    x: f64,
    cap: f64,
    (mean, half): (f64, f64),
    (lo, hi): (f64, f64),
) -> Result<bool> {
    let e = BLACK.stroke_width(1);
    let (a, b) = ((mean - half).max(lo), (mean + half).min(hi));
    chart.draw_series([PathElement::new(vec![(x, a), (x, b)], e)])?;
    let mut cut = false;
    for (y, beyond, up) in [(a, mean - half < lo, false), (b, mean + half > hi, true)] {
        if beyond {
            chart.draw_series([EmptyElement::at((x, y)) + arrowhead((0, 0), up)])?;
            cut = true;
        } else {
            chart.draw_series([PathElement::new(vec![(x - cap, y), (x + cap, y)], e)])?;
        }
    }
    Ok(cut)
}

/// A small filled triangle at pixel offset `at`, pointing up or down.
fn arrowhead(at: (i32, i32), up: bool) -> Polygon<(i32, i32)> {
    let (x, y) = at;
    let tip = if up { -7 } else { 7 };
    Polygon::new(vec![(x - 5, y), (x + 5, y), (x, y + tip)], BLACK.filled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_never_replaces_a_directory_or_a_device() {
        let dir = std::env::temp_dir().join(format!("plot-dest-{}", std::process::id()));
        let folder = dir.join("folder.png");
        std::fs::create_dir_all(&folder).unwrap();
        let blank = |root: &DrawingArea<BitMapBackend, plotters::coord::Shift>| -> Result<()> {
            root.fill(&WHITE)?;
            Ok(())
        };
        let err = render_png(&folder, (10, 10), blank).unwrap_err();
        assert!(format!("{err:#}").contains("is a directory"), "{err:#}");
        assert!(folder.is_dir());
        // A full disk (a link to /dev/full, written in place): one plain I/O error, no plotters
        // type names, and the device still a device.
        let full = dir.join("full.png");
        std::os::unix::fs::symlink("/dev/full", &full).unwrap();
        let err = format!("{:#}", render_png(&full, (10, 10), blank).unwrap_err());
        assert!(err.contains("No space left on device"), "{err}");
        assert!(
            !err.contains("DrawingArea") && !err.contains("BackendError"),
            "{err}"
        );
        assert!(std::fs::symlink_metadata(&full)
            .unwrap()
            .file_type()
            .is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn perturbation_titles_drop_ctrl_and_count_cells() {
        let fig = |condition: &str, cells: usize, synthetic: bool| PerturbationFigure {
            condition: condition.into(),
            genes: vec!["G".into()],
            observed: vec![vec![0.0; cells]],
            predicted: vec![0.0],
            synthetic,
        };
        assert_eq!(
            fig("KLF1+ctrl", 120, false).title(),
            "KLF1 (n = 120 cells): top DE genes"
        );
        assert_eq!(
            fig("KLF1+MAP2K6", 1, true).title(),
            "KLF1+MAP2K6 (n = 1 cell): top DE genes — SYNTHETIC data"
        );
    }

    #[test]
    fn ticks_never_read_minus_zero() {
        assert_eq!(tick(-1e-17, 1.0), "0.00");
        assert_eq!(tick(-0.004, 1.0), "0.00");
        assert_eq!(tick(-0.25, 1.0), "-0.25");
        assert_eq!(tick(0.05, 0.1), "0.050");
    }

    #[test]
    fn series_colours_do_not_repeat() {
        let cs: Vec<RGBColor> = (0..40).map(colour).collect();
        for (i, a) in cs.iter().enumerate() {
            assert!(!cs[..i].contains(a), "colour {i} repeats");
        }
    }

    #[test]
    fn a_wide_interval_is_cut_at_the_axis_not_the_axis_stretched() {
        let series: Vec<BarSeries> = vec![
            ("model".into(), vec![Some((0.6, 0.05)), Some((0.3, 2.4))]),
            ("baseline".into(), vec![Some((0.2, 0.02)), None]),
        ];
        let (lo, hi) = bar_axis(&series, Some((-1.0, 1.0)));
        assert!(lo < 0.0 && lo > -0.25, "{lo}");
        assert!(hi > 0.65 && hi < 0.85, "{hi}");
    }

    #[test]
    fn box_stats_match_numpy_percentiles() {
        // numpy.percentile([1..=9, 100], [25, 50, 75]) = 3.25, 5.5, 7.75; 100 is an outlier.
        let v: Vec<f64> = (1..=9).map(f64::from).chain([100.0]).collect();
        let b = box_stats(&v);
        assert_eq!(&b[1..4], &[3.25, 5.5, 7.75]);
        assert_eq!((b[0], b[4]), (1.0, 9.0));
    }
}
