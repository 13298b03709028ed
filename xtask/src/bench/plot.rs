//! The one plot: fan-out deliveries per second against subscriber count, one line per
//! series the benches recorded (`results::point`), drawn as SVG with plotters.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::results::Records;

/// Line colours, in series order.
const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Draws every recorded series into `path` (an empty chart if none was recorded).
pub(super) fn fanout(records: &Records, path: &Path) -> Result<(), String> {
    let mut series: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for point in records.points.iter().filter(|p| p.x > 0.0 && p.y > 0.0) {
        series
            .entry(&point.series)
            .or_default()
            .push((point.x, point.y));
    }
    for points in series.values_mut() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let all = series.values().flatten();
    let (x_max, y_min, y_max) = all.fold((10.0f64, f64::MAX, 1.0f64), |(x, lo, hi), p| {
        (x.max(p.0), lo.min(p.1), hi.max(p.1))
    });
    let y_min = if y_min == f64::MAX { 1.0 } else { y_min };
    draw(&series, (x_max * 2.0, y_min / 2.0, y_max * 2.0), path)
        .map_err(|e| format!("plot {}: {e}", path.display()))
}

fn draw(
    series: &BTreeMap<&str, Vec<(f64, f64)>>,
    (x_max, y_min, y_max): (f64, f64, f64),
    path: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (860, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Fan-out over loopback: deliveries per second",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d((0.8f64..x_max).log_scale(), (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("subscribers")
        .y_desc("deliveries per second")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| match *y {
            y if y >= 1e6 => format!("{:.0}M", y / 1e6),
            y if y >= 1e3 => format!("{:.0}k", y / 1e3),
            y => format!("{y:.0}"),
        })
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(
            points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 4, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
