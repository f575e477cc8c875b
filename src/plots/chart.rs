//! PNG line charts with a legend: the training curves and the evaluation's precision-recall
//! curves.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{PlotError, register_font, save_image};

const WIDTH: u32 = 800;
const HEIGHT: u32 = 500;
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One named line.
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// Points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

/// Axis labels and scale of a chart.
pub struct Chart<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// Horizontal axis label.
    pub x_label: &'a str,
    /// Vertical axis label.
    pub y_label: &'a str,
    /// Logarithmic vertical axis (for learning rates).
    pub log_y: bool,
    /// Fixed axis ranges (for precision-recall in `0..1`), else fitted to the data.
    pub fixed_range: Option<((f64, f64), (f64, f64))>,
}

/// Draw `series` into a PNG at `path` (written whole or not at all).
pub fn line_chart(path: &Path, chart: &Chart, series: &[Series]) -> Result<(), PlotError> {
    register_font();
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart, series).map_err(PlotError::Draw)?;
        root.present().map_err(PlotError::Draw)?;
    }
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels)
        .expect("the buffer was made for this size");
    save_image(&image, path, image::ImageFormat::Png).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
    series: &[Series],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all = series.iter().flat_map(|s| s.points.iter());
    let ((x0, x1), (y0, y1)) = chart.fixed_range.unwrap_or_else(|| {
        let finite: Vec<&(f64, f64)> = all.filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        let xs = finite.iter().map(|p| p.0);
        let ys = finite
            .iter()
            .map(|p| p.1)
            .filter(|y| !chart.log_y || *y > 0.0);
        let (x0, x1) = (
            xs.clone().fold(f64::INFINITY, f64::min),
            xs.fold(f64::NEG_INFINITY, f64::max),
        );
        let (y0, y1) = (
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        );
        let (x0, x1) = if x0.is_finite() {
            (x0, x1.max(x0 + 1.0))
        } else {
            (0.0, 1.0)
        };
        let (y0, y1) = if y0.is_finite() {
            (y0, y1)
        } else {
            (1e-6, 1.0)
        };
        let pad = if chart.log_y {
            0.0
        } else {
            (y1 - y0).max(1e-6) * 0.05
        };
        (
            (x0, x1),
            (y0 - pad, y1 + pad + if y1 == y0 { 1e-6 } else { 0.0 }),
        )
    });
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(chart.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if chart.log_y {
        let mut ctx = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?;
        ctx.configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        draw_lines(&mut ctx, series)
    } else {
        let mut ctx = builder.build_cartesian_2d(x0..x1, y0..y1)?;
        ctx.configure_mesh()
            .x_desc(chart.x_label)
            .y_desc(chart.y_label)
            .draw()?;
        draw_lines(&mut ctx, series)
    }
}

/// The series as coloured lines with a legend, on either kind of vertical axis.
fn draw_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    ctx: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    series: &[Series],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        ctx.draw_series(LineSeries::new(
            s.points.iter().copied(),
            colour.stroke_width(2),
        ))?
        .label(s.name)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
    }
    ctx.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png_with_lines() {
        let path = std::env::temp_dir().join("ssdface-plot-test.png");
        let chart = Chart {
            title: "loss",
            x_label: "epoch",
            y_label: "loss",
            log_y: false,
            fixed_range: None,
        };
        let series = [Series {
            name: "train",
            points: vec![(1.0, 3.0), (2.0, 2.0), (3.0, 1.5)],
        }];
        line_chart(&path, &chart, &series).unwrap();
        let image = image::open(&path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (WIDTH, HEIGHT));
        let blue = image.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        assert!(blue > 100, "the line is drawn ({blue} pixels)");
    }
}
