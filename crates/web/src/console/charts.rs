//! Server-rendered SVG charts: no script library, no CDN, readable without JavaScript. Every chart is an
//! `<svg role="img">` with a title; pages also print the numbers in a table for screen readers and for copying.

use std::fmt::Write;

/// One stacked series: its legend text, a CSS class for its colour and one value per x position.
pub struct Series {
    pub label: String,
    pub class: String,
    pub values: Vec<f64>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 10.0;
const RIGHT: f64 = 24.0;
/// Width of the plotting area.
const PLOT: f64 = W - LEFT - RIGHT;

/// The axis maximum for counts: four gridline steps of a whole "nice" size (1, 2 or 5 × 10ⁿ), at or above `max`.
fn nice_max(max: f64) -> f64 {
    let want = (max / 4.0).max(1.0);
    let mag = 10f64.powf(want.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|v| *v >= want)
        .unwrap_or(10.0 * mag);
    step * 4.0
}

fn frame(out: &mut String, id: &str, title: &str, top: f64, unit: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{id}-t"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let y = H - BOTTOM - (H - BOTTOM - TOP) * i as f64 / 4.0;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}{unit}</text>"#,
            W - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            trim_num(v)
        );
    }
}

fn trim_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

fn x_labels(out: &mut String, labels: &[String], slot: f64) {
    // At most ~10 labels, so dates never overlap.
    let every = labels.len().div_ceil(10).max(1);
    for (i, l) in labels.iter().enumerate() {
        if i % every == 0 || i + 1 == labels.len() {
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                out,
                r#"<text class="axis" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                H - BOTTOM + 16.0,
                esc(l)
            );
        }
    }
}

/// Stacked bars, one bar per x label.
pub fn stacked_bars(id: &str, title: &str, labels: &[String], series: &[Series]) -> String {
    let n = labels.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let top = nice_max(totals.iter().cloned().fold(0.0, f64::max));
    let mut out = String::new();
    frame(&mut out, id, title, top, "");
    let slot = PLOT / n as f64;
    let bar = (slot * 0.7).max(1.0);
    let scale = (H - BOTTOM - TOP) / top;
    for i in 0..n {
        let mut y = H - BOTTOM;
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v * scale;
            y -= h;
            let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
            let _ = write!(
                out,
                r#"<rect class="{}" x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}"><title>{} {}: {}</title></rect>"#,
                esc(&s.class),
                esc(labels.get(i).map(String::as_str).unwrap_or("")),
                esc(&s.label),
                trim_num(v)
            );
        }
    }
    x_labels(&mut out, labels, slot);
    out.push_str("</svg>");
    out.push_str(&legend(
        series.iter().map(|s| (s.label.as_str(), s.class.as_str())),
    ));
    out
}

/// A percentage line (0–100) with gaps where a day has no value.
pub fn percent_line(id: &str, title: &str, labels: &[String], values: &[Option<f64>]) -> String {
    let n = labels.len().max(1);
    let mut out = String::new();
    frame(&mut out, id, title, 100.0, "%");
    let slot = PLOT / n as f64;
    let scale = (H - BOTTOM - TOP) / 100.0;
    let mut path = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = LEFT + slot * (i as f64 + 0.5);
                let y = H - BOTTOM - v.clamp(0.0, 100.0) * scale;
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                let _ = write!(
                    out,
                    r#"<circle class="pt" cx="{x:.1}" cy="{y:.1}" r="3"><title>{}: {v:.1}%</title></circle>"#,
                    esc(labels.get(i).map(String::as_str).unwrap_or(""))
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = write!(out, r#"<path class="line" d="{}"/>"#, path.trim_end());
    x_labels(&mut out, labels, slot);
    out.push_str("</svg>");
    out
}

fn legend<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (label, class) in items {
        let _ = write!(
            out,
            r#"<li><span class="swatch {}"></span>{}</li>"#,
            esc(class),
            esc(label)
        );
    }
    out.push_str("</ul>");
    out
}

/// One bar of a ranking: label, value, and whether it is marked (KPI-15 laggard).
pub struct RankBar {
    pub label: String,
    pub value: f64,
    pub marked: bool,
}

/// Horizontal bars, one per ranked unit, highest first, on a 0–`max` axis; marked bars get `c-laggard`.
pub fn ranking_bars(id: &str, title: &str, max: f64, bars: &[RankBar]) -> String {
    let row = 26.0;
    let left = 150.0;
    let h = TOP + BOTTOM + row * bars.len().max(1) as f64;
    let plot = W - left - RIGHT;
    let top = if max > 0.0 { max } else { 1.0 };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {W} {h}" role="img" aria-labelledby="{id}-t"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let x = left + plot * i as f64 / 4.0;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}"/><text class="axis" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            h - BOTTOM,
            h - BOTTOM + 16.0,
            trim_num(v)
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        let w = (b.value.clamp(0.0, top) / top * plot).max(0.0);
        let class = if b.marked { "c-laggard" } else { "c-rank" };
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="{class}" x="{left}" y="{:.1}" width="{w:.1}" height="{:.1}"><title>{}: {}</title></rect><text class="axis" x="{:.1}" y="{:.1}">{}</text>"#,
            left - 6.0,
            y + row * 0.65,
            esc(&b.label),
            y + 4.0,
            row - 8.0,
            esc(&b.label),
            trim_num(b.value),
            left + w + 4.0,
            y + row * 0.65,
            trim_num(b.value)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maximum_is_a_round_number_at_or_above_the_data() {
        assert_eq!(nice_max(0.0), 4.0);
        assert_eq!(nice_max(7.0), 8.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(200.0), 200.0);
        assert_eq!(nice_max(201.0), 400.0);
    }

    #[test]
    fn bars_escape_text_and_skip_zero_values() {
        let svg = stacked_bars(
            "c",
            "a<b",
            &["d1".into(), "d2".into()],
            &[Series {
                label: "x\"y".into(),
                class: "c-x".into(),
                values: vec![2.0, 0.0],
            }],
        );
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("x&quot;y"));
        assert_eq!(svg.matches("<rect").count(), 1);
    }

    #[test]
    fn a_gap_lifts_the_pen() {
        let svg = percent_line(
            "p",
            "t",
            &["a".into(), "b".into(), "c".into()],
            &[Some(100.0), None, Some(50.0)],
        );
        assert_eq!(svg.matches(" M").count() + svg.matches("\"M").count(), 2);
    }

    #[test]
    fn ranking_marks_laggards_and_scales_to_the_maximum() {
        let svg = ranking_bars(
            "r",
            "排名",
            10.0,
            &[
                RankBar {
                    label: "甲".into(),
                    value: 10.0,
                    marked: false,
                },
                RankBar {
                    label: "乙<".into(),
                    value: 5.0,
                    marked: true,
                },
            ],
        );
        assert_eq!(svg.matches("<rect").count(), 2);
        assert_eq!(svg.matches("c-laggard").count(), 1);
        assert!(svg.contains("乙&lt;"));
        // The full bar spans the plot (720 − 150 − 24 = 546), the half bar half of it.
        assert!(svg.contains(r#"width="546.0""#), "{svg}");
        assert!(svg.contains(r#"width="273.0""#), "{svg}");
    }
}
