//! Small charts drawn on the server as SVG: a line chart (a trend over the
//! months) and a bar chart (counts by name). They need no JavaScript, read
//! on a phone and across a lobby (the drawing scales with its box, the text
//! stays large), and carry their own text equivalent: the picture is named
//! by its title and summary, and the same figures follow as a table.
//!
//! Callers pass text already translated; every value is escaped by maud.

use maud::{html, Markup};

/// Where the SVG namespace is declared: inline in a page it is optional,
/// but the same drawing is also served on its own (a lobby screen shows it
/// as a picture), where it is required.
const SVG_NS: &str = "http://www.w3.org/2000/svg";

/// Colours that stay apart for the colour-blind (Okabe and Ito), each series
/// also drawn with its own dash and marker so colour is never the only cue.
const PALETTE: [&str; 6] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9",
];
const DASHES: [&str; 6] = ["", "6 3", "2 3", "8 3 2 3", "", "4 4"];

/// The drawing's coordinate box; the browser scales it to the width it gets.
/// Narrow, so that on a phone (some 330 CSS pixels for the drawing) the text
/// keeps nearly its own size; a lobby screen scales it up.
const WIDTH: f64 = 340.0;
const FONT: f64 = 16.0;

/// One line: a value per x label, `None` where there is nothing to show
/// (the line breaks there rather than pretending a zero).
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

/// A trend: `series` over `x_labels`, on a y axis from 0 to `y_max`.
pub struct LineChart<'a> {
    /// Unique on the page: names the title and summary for screen readers.
    pub id: &'a str,
    pub title: String,
    /// One sentence saying what the picture shows (read before the table).
    pub summary: String,
    /// The x labels as shown; the table uses `x_names` (longer) if given.
    pub x_labels: Vec<String>,
    pub x_names: Vec<String>,
    pub series: Vec<Series>,
    pub y_max: f64,
    /// Values at which a grid line is drawn and labelled.
    pub y_ticks: Vec<f64>,
    /// How a value reads (on the axis and in the table).
    pub format: fn(f64) -> String,
    /// The first column's heading in the table.
    pub x_heading: String,
    /// What the table shows for `None`.
    pub missing: String,
    /// The label of the collapsible table.
    pub table_label: String,
}

/// Counts by name, largest first as given.
pub struct BarChart<'a> {
    pub id: &'a str,
    pub title: String,
    pub summary: String,
    pub rows: Vec<(String, f64)>,
    pub format: fn(f64) -> String,
    pub name_heading: String,
    pub value_heading: String,
    pub table_label: String,
}

fn num(v: f64) -> String {
    // One decimal is plenty for a drawing and keeps the SVG small.
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

/// The chart as a figure for a page: the picture, then its table.
pub fn line_figure(chart: &LineChart) -> Markup {
    html! {
        figure class="chart" {
            (line_svg(chart))
            (line_table(chart))
        }
    }
}

/// The picture alone, a complete SVG document when served on its own.
pub fn line_svg(chart: &LineChart) -> Markup {
    let left = 48.0;
    let right = 12.0;
    let legend_rows = chart.series.len().div_ceil(2) as f64;
    let top = 10.0 + legend_rows * (FONT + 8.0);
    let plot_height = 170.0;
    let bottom = 2.0 * FONT + 14.0;
    let height = top + plot_height + bottom;
    let plot_width = WIDTH - left - right;
    let count = chart.x_labels.len().max(1);
    let step = plot_width / count as f64;
    let x_at = |i: usize| left + step * (i as f64 + 0.5);
    // A CJK character is about a font size wide, a digit about half.
    let widest = chart
        .x_labels
        .iter()
        .map(|l| {
            l.chars()
                .map(|c| if c.is_ascii() { 0.6 } else { 1.0 })
                .sum::<f64>()
                * FONT
        })
        .fold(0.0, f64::max);
    let every = ((widest + 4.0) / step).ceil().max(1.0) as usize;
    let y_max = if chart.y_max > 0.0 { chart.y_max } else { 1.0 };
    let y_at = |v: f64| top + plot_height - (v.clamp(0.0, y_max) / y_max) * plot_height;
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    let view_box = format!("0 0 {} {}", num(WIDTH), num(height));
    html! {
        svg xmlns=(SVG_NS) class="chart-svg" viewBox=(view_box) role="img"
            aria-labelledby={(title_id) " " (desc_id)} font-family="sans-serif" font-size=(num(FONT)) {
            title id=(title_id) { (chart.title) }
            desc id=(desc_id) { (chart.summary) }
            // Legend: two per row, a line sample with the series' dash and marker.
            @for (i, series) in chart.series.iter().enumerate() {
                @let x = left + (i % 2) as f64 * (plot_width / 2.0);
                @let y = 10.0 + (i / 2) as f64 * (FONT + 8.0) + FONT / 2.0;
                g class="legend" {
                    line x1=(num(x)) y1=(num(y)) x2=(num(x + 22.0)) y2=(num(y)) stroke=(PALETTE[i % PALETTE.len()])
                        stroke-width="2.5" stroke-dasharray=(DASHES[i % DASHES.len()]) {}
                    (marker(i, x + 11.0, y))
                    text x=(num(x + 28.0)) y=(num(y + FONT / 3.0)) fill="currentColor" { (series.name) }
                }
            }
            g class="axis" stroke="#888" stroke-width="0.6" {
                @for tick in &chart.y_ticks {
                    line x1=(num(left)) x2=(num(WIDTH - right)) y1=(num(y_at(*tick))) y2=(num(y_at(*tick))) {}
                }
            }
            g class="y-labels" fill="currentColor" text-anchor="end" {
                @for tick in &chart.y_ticks {
                    text x=(num(left - 6.0)) y=(num(y_at(*tick) + FONT / 3.0)) { ((chart.format)(*tick)) }
                }
            }
            g class="x-labels" fill="currentColor" text-anchor="middle" {
                @for (i, label) in chart.x_labels.iter().enumerate() {
                    // Crowded labels are thinned, the latest always kept.
                    @if (count - 1 - i).is_multiple_of(every) {
                        text x=(num(x_at(i))) y=(num(top + plot_height + FONT + 6.0)) { (label) }
                    }
                }
            }
            @for (i, series) in chart.series.iter().enumerate() {
                g class="series" data-series=(i) {
                    @for run in runs(&series.values) {
                        @if run.len() > 1 {
                            polyline fill="none" stroke=(PALETTE[i % PALETTE.len()]) stroke-width="2.5"
                                stroke-dasharray=(DASHES[i % DASHES.len()]) stroke-linejoin="round"
                                points=(run.iter().map(|(x, v)| format!("{},{}", num(x_at(*x)), num(y_at(*v)))).collect::<Vec<_>>().join(" ")) {}
                        }
                    }
                    @for (x, v) in series.values.iter().enumerate().filter_map(|(x, v)| v.map(|v| (x, v))) {
                        (marker(i, x_at(x), y_at(v)))
                    }
                }
            }
        }
    }
}

/// Consecutive present values, as (index, value) runs.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut runs = vec![Vec::new()];
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => runs.last_mut().expect("never empty").push((i, *v)),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// A point of series `i`: circle, square, diamond, triangle … by series.
fn marker(i: usize, x: f64, y: f64) -> Markup {
    let colour = PALETTE[i % PALETTE.len()];
    let r = 3.5;
    let points = |pts: &[(f64, f64)]| {
        pts.iter()
            .map(|(dx, dy)| format!("{},{}", num(x + dx), num(y + dy)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match i % 4 {
        0 => html! { circle class="point" cx=(num(x)) cy=(num(y)) r=(num(r)) fill=(colour) {} },
        1 => {
            html! { rect class="point" x=(num(x - r)) y=(num(y - r)) width=(num(2.0 * r)) height=(num(2.0 * r)) fill=(colour) {} }
        }
        2 => {
            html! { polygon class="point" points=(points(&[(0.0, -r - 1.0), (r + 1.0, 0.0), (0.0, r + 1.0), (-r - 1.0, 0.0)])) fill=(colour) {} }
        }
        _ => {
            html! { polygon class="point" points=(points(&[(0.0, -r - 1.0), (r + 1.0, r), (-r - 1.0, r)])) fill=(colour) {} }
        }
    }
}

fn line_table(chart: &LineChart) -> Markup {
    html! {
        details class="chart-data" {
            summary { (chart.table_label) }
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (chart.x_heading) }
                        @for series in &chart.series { th scope="col" { (series.name) } }
                    } }
                    tbody {
                        @for (i, label) in chart.x_names.iter().chain(chart.x_labels.iter().skip(chart.x_names.len())).enumerate() {
                            tr {
                                th scope="row" { (label) }
                                @for series in &chart.series {
                                    td { @match series.values.get(i).copied().flatten() {
                                        Some(v) => ((chart.format)(v)),
                                        None => (chart.missing),
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The bar chart as a figure for a page: the picture, then its table.
pub fn bar_figure(chart: &BarChart) -> Markup {
    html! {
        figure class="chart" {
            (bar_svg(chart))
            details class="chart-data" {
                summary { (chart.table_label) }
                div class="table-wrap" {
                    table {
                        thead { tr { th scope="col" { (chart.name_heading) } th scope="col" { (chart.value_heading) } } }
                        tbody {
                            @for (name, value) in &chart.rows {
                                tr { th scope="row" { (name) } td { ((chart.format)(*value)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The bars alone, a complete SVG document when served on its own.
pub fn bar_svg(chart: &BarChart) -> Markup {
    let label_width = 150.0;
    let value_width = 44.0;
    let row = 2.0 * FONT + 4.0;
    let height = row * chart.rows.len().max(1) as f64 + 8.0;
    let max = chart.rows.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let bar_room = WIDTH - label_width - value_width;
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    let view_box = format!("0 0 {} {}", num(WIDTH), num(height));
    html! {
        svg xmlns=(SVG_NS) class="chart-svg" viewBox=(view_box) role="img"
            aria-labelledby={(title_id) " " (desc_id)} font-family="sans-serif" font-size=(num(FONT)) {
            title id=(title_id) { (chart.title) }
            desc id=(desc_id) { (chart.summary) }
            @for (i, (name, value)) in chart.rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * row;
                @let width = if max > 0.0 { (value / max) * bar_room } else { 0.0 };
                g class="bar" {
                    text x=(num(label_width - 8.0)) y=(num(y + row / 2.0 + FONT / 3.0)) text-anchor="end" fill="currentColor" {
                        (ellipsis(name, 9))
                    }
                    rect x=(num(label_width)) y=(num(y + 3.0)) width=(num(width.max(1.0))) height=(num(row - 6.0))
                        fill=(PALETTE[0]) rx="2" {}
                    text x=(num(label_width + width.max(1.0) + 6.0)) y=(num(y + row / 2.0 + FONT / 3.0)) fill="currentColor" {
                        ((chart.format)(*value))
                    }
                }
            }
        }
    }
}

/// At most `max` characters, the rest replaced by "…" (the table keeps the whole name).
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

/// A standalone SVG document: what a lobby screen loads as a picture.
pub fn svg_document(svg: Markup) -> String {
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    text.push_str(&svg.into_string());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(v: f64) -> String {
        format!("{}%", num(v))
    }

    fn trend() -> LineChart<'static> {
        LineChart {
            id: "t",
            title: "按时率".into(),
            summary: "最近一月 80%".into(),
            x_labels: vec!["1".into(), "2".into(), "3".into(), "4".into()],
            x_names: vec![
                "2026-01".into(),
                "2026-02".into(),
                "2026-03".into(),
                "2026-04".into(),
            ],
            series: vec![
                Series {
                    name: "紧急 <类>".into(),
                    values: vec![Some(100.0), None, Some(50.0), Some(80.0)],
                },
                Series {
                    name: "一般".into(),
                    values: vec![None, None, None, None],
                },
            ],
            y_max: 100.0,
            y_ticks: vec![0.0, 50.0, 100.0],
            format: percent,
            x_heading: "月份".into(),
            missing: "—".into(),
            table_label: "数据".into(),
        }
    }

    #[test]
    fn a_line_breaks_where_a_value_is_missing() {
        assert_eq!(
            runs(&[Some(1.0), None, Some(2.0), Some(3.0), None]),
            vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]
        );
        assert!(runs(&[None, None]).is_empty());
    }

    #[test]
    fn the_line_chart_is_named_escaped_and_tabled() {
        let html = line_figure(&trend()).into_string();
        assert!(html.contains(r#"role="img""#));
        assert!(html.contains(r#"aria-labelledby="t-title t-desc""#));
        assert!(html.contains("<title id=\"t-title\">按时率</title>"));
        assert!(html.contains("紧急 &lt;类&gt;"), "series names are escaped");
        assert!(!html.contains("<类>"));
        // One polyline (the run of two), three markers, none for the empty series.
        assert_eq!(html.matches("<polyline").count(), 1);
        assert_eq!(
            html.matches("class=\"point\"").count(),
            3 + 2,
            "three points and two legend markers"
        );
        // The table has a row per month, with the gap spelled out.
        assert_eq!(html.matches("<th scope=\"row\">").count(), 4);
        assert!(html.contains("<th scope=\"row\">2026-02</th><td>—</td><td>—</td>"));
        assert!(html.contains("<td>80%</td>"));
    }

    #[test]
    fn crowded_month_labels_are_thinned_keeping_the_latest() {
        let mut chart = trend();
        chart.x_labels = (1..=12).map(|m| format!("{m}月")).collect();
        chart.series[0].values = vec![None; 12];
        let svg = line_svg(&chart).into_string();
        let labels: Vec<&str> = svg
            .split("<g class=\"x-labels\"")
            .nth(1)
            .unwrap()
            .split("</g>")
            .next()
            .unwrap()
            .split("\">")
            .skip(2)
            .map(|t| t.split('<').next().unwrap())
            .collect();
        assert_eq!(labels, ["2月", "4月", "6月", "8月", "10月", "12月"]);
    }

    #[test]
    fn values_outside_the_axis_stay_inside_the_drawing() {
        let mut chart = trend();
        chart.series[0].values = vec![Some(1e9), Some(-5.0), Some(f64::NAN.max(0.0)), None];
        let svg = line_svg(&chart).into_string();
        for y in svg.split("cy=\"").skip(1) {
            let y: f64 = y.split('"').next().unwrap().parse().unwrap();
            assert!((0.0..400.0).contains(&y), "{y}");
        }
    }

    #[test]
    fn bars_scale_to_the_largest_and_names_are_shortened_only_in_the_picture() {
        let chart = BarChart {
            id: "c",
            title: "类别".into(),
            summary: "最多：电梯".into(),
            rows: vec![
                ("电梯".into(), 10.0),
                ("一个非常非常非常长的类别名称".into(), 5.0),
            ],
            format: |v| num(v),
            name_heading: "类别".into(),
            value_heading: "件数".into(),
            table_label: "数据".into(),
        };
        let html = bar_figure(&chart).into_string();
        assert!(
            html.contains("width=\"146\""),
            "the largest fills the room: {html}"
        );
        assert!(html.contains("width=\"73\""));
        assert!(html.contains("一个非常非常非常…"));
        assert!(html.contains("<th scope=\"row\">一个非常非常非常长的类别名称</th>"));
    }

    #[test]
    fn an_empty_bar_chart_still_draws() {
        let chart = BarChart {
            id: "e",
            title: "t".into(),
            summary: "s".into(),
            rows: vec![("a".into(), 0.0)],
            format: |v| num(v),
            name_heading: "n".into(),
            value_heading: "v".into(),
            table_label: "d".into(),
        };
        assert!(bar_figure(&chart).into_string().contains("width=\"1\""));
    }

    #[test]
    fn a_standalone_drawing_declares_its_namespace() {
        let doc = svg_document(line_svg(&trend()));
        assert!(doc.starts_with("<?xml"));
        assert!(doc.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
