//! `parex bench --plot FILE`: the results as an SVG chart (with `plotters`). Each line is
//! one engine of one workload and contention level (and thread count): end-to-end TPS
//! against the block size, or against the thread count when only that varies; both
//! axes logarithmic. People would rather look at a curve than read a column.

use plotters::prelude::*;

use crate::bench::RunReport;

/// What the x axis shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Axis {
    Txs,
    Threads,
}

/// One line of the chart: its label and points `(x, TPS)`, sorted by `x`.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
}

/// The lines of `runs`: per workload, contention level and engine (and thread count
/// when the x axis is the block size).
fn lines(runs: &[RunReport], axis: Axis) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for r in runs {
        let x = match axis {
            Axis::Txs => r.txs as f64,
            Axis::Threads => r.threads as f64,
        };
        let base = format!("{} {}", r.workload, r.contention);
        let par = match axis {
            Axis::Txs => format!("{base} parallel ({} threads)", r.threads),
            Axis::Threads => format!("{base} parallel"),
        };
        for (label, tps) in
            [(format!("{base} sequential"), r.sequential.tps), (par, r.parallel.tps)]
        {
            match lines.iter_mut().find(|l| l.label == label) {
                Some(l) => l.points.push((x, tps)),
                None => lines.push(Line { label, points: vec![(x, tps)] }),
            }
        }
    }
    for l in &mut lines {
        l.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The sequential engine does not depend on the thread count: one point per x.
        l.points.dedup_by(|a, b| a.0 == b.0);
    }
    lines
}

/// The SVG chart of `runs` (see the module docs). Never fails: a chart with nothing to
/// draw says so in its caption.
pub fn scaling_svg(runs: &[RunReport]) -> String {
    let distinct = |f: fn(&RunReport) -> usize| {
        let mut v: Vec<usize> = runs.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    let axis = if distinct(|r| r.txs) == 1 && distinct(|r| r.threads) > 1 {
        Axis::Threads
    } else {
        Axis::Txs
    };
    let lines = lines(runs, axis);
    let mut svg = String::new();
    // Drawing into a string only fails on a range plotters cannot map; the caption then
    // says so rather than the command failing after the whole benchmark.
    if draw(&mut svg, &lines, axis).is_err() {
        svg.clear();
        let _ = draw(&mut svg, &[], axis);
    }
    svg
}

fn draw(svg: &mut String, lines: &[Line], axis: Axis) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let points = lines.iter().flat_map(|l| l.points.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points.filter(|&(x, y)| x > 0.0 && y > 0.0) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let caption =
        if x0 > x1 { "parex bench: nothing to plot" } else { "parex bench: end-to-end TPS" };
    if x0 > x1 {
        (x0, x1, y0, y1) = (1.0, 10.0, 1.0, 10.0);
    }
    let x_desc = match axis {
        Axis::Txs => "transactions per block",
        Axis::Threads => "threads",
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 / 1.5..x1 * 1.5).log_scale(), (y0 / 1.5..y1 * 1.5).log_scale())?;
    let whole = |v: &f64| format!("{v:.0}");
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("TPS (execution + commitment)")
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .draw()?;
    for (i, l) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(l.points.iter().copied(), style))?
            .label(l.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(l.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
