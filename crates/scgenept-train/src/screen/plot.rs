//! The screen's figure, after GEARS' map of genetic interactions: every pair at (magnitude,
//! model fit), the additive magnitude √2 marked, and the top pairs of the ranking labelled.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use crate::figures::plots::{render_png, tick, FONT, PALETTE};
use crate::screen::draws::Stability;
use crate::screen::rows::PairRow;
use scgenept_eval::gi::GiScores;

/// The figure's title: how many pairs of how many genes, and SYNTHETIC when the bundle's model
/// was trained on synthetic data.
pub fn screen_title(pairs: usize, genes: usize, synthetic: bool) -> String {
    let tag = if synthetic { " — SYNTHETIC data" } else { "" };
    format!("{pairs} pairs of {genes} genes{tag}")
}

/// The title of a screen over several control draws: means with 95% whiskers, and how much the
/// ranking agrees between draws.
pub fn draws_title(base: &str, s: &Stability) -> String {
    format!(
        "{base}; {} control draws: ±95% CI, rank ρ {:.2} (min {:.2})",
        s.draws,
        s.mean(),
        s.min()
    )
}

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
    // Over several control draws: each point's 95% intervals as whiskers.
    let bars: Vec<((f64, f64), (f64, f64))> = (rows.iter())
        .filter_map(|r| {
            let sp = r.spread.as_ref()?;
            let (x, y) = (r.scores[mag], r.scores[fit]);
            let (dx, dy) = (sp.ci95[mag], sp.ci95[fit]);
            [x, y, dx, dy]
                .iter()
                .all(|v| v.is_finite())
                .then_some(((x - dx, x + dx), (y - dy, y + dy)))
        })
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
    let xs = (points.iter().map(|p| p.0)).chain(bars.iter().flat_map(|b| [b.0 .0, b.0 .1]));
    let (x0, x1) = range(&mut xs.chain([2f64.sqrt()]));
    let (y0, y1) =
        range(&mut (points.iter().map(|p| p.1)).chain(bars.iter().flat_map(|b| [b.1 .0, b.1 .1])));
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
        let whisker = RGBColor(200, 200, 200).stroke_width(1);
        for ((xa, xb), (ya, yb)) in &bars {
            let (xm, ym) = ((xa + xb) / 2.0, (ya + yb) / 2.0);
            chart.draw_series([
                PathElement::new(vec![(*xa, ym), (*xb, ym)], whisker),
                PathElement::new(vec![(xm, *ya), (xm, *yb)], whisker),
            ])?;
        }
        chart.draw_series(
            (points.iter()).map(|p| Circle::new(*p, 3, RGBColor(170, 170, 170).filled())),
        )?;
        let mut placed: Vec<Rect> = Vec::new();
        for r in rows.iter().take(top) {
            let p = (r.scores[mag], r.scores[fit]);
            if !(p.0.is_finite() && p.1.is_finite()) {
                continue;
            }
            chart.draw_series([Circle::new(p, 5, PALETTE[0].filled())])?;
            let label = format!("{}+{}", r.a, r.b);
            let at = chart.backend_coord(&p);
            // The first spot around the point that overlaps no earlier label; a label with no
            // free spot is left out (its point stays marked), so labels never overprint.
            if let Some(rect) = free_spot(at, &label, &placed) {
                root.draw(&Text::new(
                    label,
                    (rect.x0, rect.y0),
                    (FONT, 13).into_font(),
                ))?;
                placed.push(rect);
            }
        }
        Ok(())
    })
}

/// A label's box in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rect {
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// Where `label` can go beside the point at pixel `at` (right-above, right-below, left-above,
/// left-below) without touching a box in `placed`. 13-px text: about 7 px per character.
fn free_spot(at: (i32, i32), label: &str, placed: &[Rect]) -> Option<Rect> {
    let (w, h) = (7 * label.chars().count() as i32, 15);
    let spots = [(6, -h - 2), (6, 4), (-w - 6, -h - 2), (-w - 6, 4)];
    spots
        .iter()
        .map(|(dx, dy)| Rect {
            x0: at.0 + dx,
            y0: at.1 + dy,
            x1: at.0 + dx + w,
            y1: at.1 + dy + h,
        })
        .find(|r| placed.iter().all(|p| !p.overlaps(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_screen_says_so_in_its_title() {
        assert_eq!(screen_title(28, 8, false), "28 pairs of 8 genes");
        assert_eq!(
            screen_title(28, 8, true),
            "28 pairs of 8 genes — SYNTHETIC data"
        );
    }

    #[test]
    fn labels_take_a_free_spot_or_none() {
        let first = free_spot((100, 100), "A+B", &[]).unwrap();
        // The same point again: the first spot is taken, the second is below it.
        let second = free_spot((100, 100), "A+B", &[first]).unwrap();
        assert!(!second.overlaps(&first));
        let all: Vec<Rect> = (0..4)
            .scan(Vec::new(), |placed: &mut Vec<Rect>, _| {
                let r = free_spot((100, 100), "A+B", placed)?;
                placed.push(r);
                Some(r)
            })
            .collect();
        assert_eq!(all.len(), 4);
        assert_eq!(free_spot((100, 100), "A+B", &all), None);
    }
}
