//! The screen's figure, after GEARS' map of genetic interactions: every pair at (magnitude,
//! model fit), the additive magnitude √2 marked, and the top pairs of the ranking labelled.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use crate::gi::GiScores;
use crate::plots::{render_png, tick, FONT, PALETTE};
use crate::screen_run::PairRow;

/// Draws `rows` (ranked, best first) with the first `top` labelled.
pub fn draw_screen(rows: &[PairRow], top: usize, title: &str, out: &Path) -> Result<()> {
    let col = |name: &str| {
        GiScores::NAMES
            .iter()
            .position(|n| *n == name)
            .expect("score")
    };
    let (mag, fit) = (col("mag"), col("corr_fit"));
    let points: Vec<(f64, f64)> = (rows.iter())
        .map(|r| (r.scores[mag], r.scores[fit]))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let range = |v: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = v.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
            (l.min(x), h.max(x))
        });
        if lo.is_finite() {
            (lo, hi)
        } else {
            (0.0, 1.0)
        }
    };
    let (x0, x1) = range(&mut points.iter().map(|p| p.0).chain([2f64.sqrt()]));
    let (y0, y1) = range(&mut points.iter().map(|p| p.1));
    let (px, py) = (((x1 - x0) * 0.08).max(1e-3), ((y1 - y0) * 0.08).max(1e-3));
    render_png(out, (900, 700), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 18))
            .margin(14)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((x0 - px)..(x1 + px), (y0 - py)..(y1 + py))?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc("magnitude √(c1² + c2²)  (dashed: additive, √2)")
            .y_desc("model fit (Pearson of c1·A + c2·B with A+B)")
            .x_label_formatter(&|v| tick(*v, x1 - x0))
            .y_label_formatter(&|v| tick(*v, y1 - y0))
            .label_style((FONT, 14))
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(2f64.sqrt(), y0 - py), (2f64.sqrt(), y1 + py)],
            RGBColor(120, 120, 120).stroke_width(1),
        )))?;
        chart.draw_series(
            (points.iter()).map(|p| Circle::new(*p, 3, RGBColor(170, 170, 170).filled())),
        )?;
        for r in rows.iter().take(top) {
            let p = (r.scores[mag], r.scores[fit]);
            if !(p.0.is_finite() && p.1.is_finite()) {
                continue;
            }
            chart.draw_series([Circle::new(p, 5, PALETTE[0].filled())])?;
            chart.draw_series([Text::new(
                format!("{}+{}", r.a, r.b),
                p,
                (FONT, 13).into_font(),
            )])?;
        }
        Ok(())
    })
}
