//! Plots a person reads (SVG, through plotters): likelihood against registry size, and the
//! gain of a recruitment plan against donors recruited.

use plotters::prelude::*;

use crate::error::AppError;
use crate::likelihood::{LikelihoodReport, RecruitReport};
use medulla_population::Level;

fn plot_error<E: std::fmt::Display>(e: E) -> AppError {
    AppError::Internal(format!("drawing the plot: {e}"))
}

/// The legend, lower right, on a white ground.
fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<(), AppError>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)
}

fn population_colour(i: usize) -> RGBColor {
    // colour-blind-safe (Okabe-Ito)
    const C: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(0, 0, 0),
        RGBColor(240, 228, 66),
    ];
    C[i % C.len()]
}

/// Likelihood against registry size (log scale), one curve per population and level:
/// colour by population, marker and line width by level.
pub fn likelihood_svg(report: &LikelihoodReport) -> Result<String, AppError> {
    let mut sizes: Vec<u64> = report.rows.iter().map(|r| r.registry_size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() < 2 {
        return Err(AppError::Invalid {
            field: "plot".into(),
            reason: "a curve needs two registry sizes or more (--sizes)".into(),
        });
    }
    let (lo, hi) = (sizes[0] as f64, *sizes.last().unwrap_or(&1) as f64);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 620)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Likelihood of at least one available matched donor",
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d((lo * 0.8..hi * 1.25).log_scale(), 0f64..100f64)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("registry size (donors, log scale)")
            .y_desc("patients with a donor (%)")
            .x_label_formatter(&|v| human(*v))
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .draw()
            .map_err(plot_error)?;
        let pops: Vec<&str> = report
            .populations
            .iter()
            .map(|p| p.population.as_str())
            .collect();
        let levels: Vec<Level> = report.genotypes.iter().map(|g| g.level).collect();
        for (pi, pop) in pops.iter().enumerate() {
            for &level in &levels {
                let pts: Vec<(f64, f64)> = report
                    .rows
                    .iter()
                    .filter(|r| r.population == *pop && r.level == level)
                    .map(|r| (r.registry_size as f64, 100.0 * r.likelihood))
                    .collect();
                let colour = population_colour(pi);
                let width = match level {
                    Level::TenOfTen => 1,
                    Level::EightOfEight => 2,
                    Level::SevenOfEight => 3,
                };
                let style = colour.stroke_width(width);
                chart
                    .draw_series(LineSeries::new(pts.clone(), style))
                    .map_err(plot_error)?
                    .label(format!("{pop} {}", level.name()))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(width))
                    });
                match level {
                    Level::TenOfTen => chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                        .map_err(plot_error)?,
                    Level::EightOfEight => chart
                        .draw_series(
                            pts.iter()
                                .map(|&p| TriangleMarker::new(p, 5, colour.filled())),
                        )
                        .map_err(plot_error)?,
                    Level::SevenOfEight => chart
                        .draw_series(
                            pts.iter()
                                .map(|&p| Cross::new(p, 5, colour.stroke_width(2))),
                        )
                        .map_err(plot_error)?,
                };
            }
        }
        legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The weighted likelihood gained against donors recruited, each step marked in the
/// colour of the population it recruits.
pub fn recruit_svg(report: &RecruitReport) -> Result<String, AppError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let top = report
            .steps
            .last()
            .map_or(0.0, |s| s.objective - report.objective_before)
            .max(1e-6)
            * 100.0
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Gain in {} likelihood (weighted) against donors recruited",
                    report.level.name()
                ),
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..report.budget.max(1) as f64, 0f64..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("donors recruited")
            .y_desc("gain (percentage points)")
            .x_label_formatter(&|v| human(*v))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(plot_error)?;
        let mut pts = vec![(0.0, 0.0)];
        pts.extend(report.steps.iter().map(|s| {
            (
                s.cumulative as f64,
                100.0 * (s.objective - report.objective_before),
            )
        }));
        chart
            .draw_series(LineSeries::new(pts, BLACK.stroke_width(2)))
            .map_err(plot_error)?;
        let pops: Vec<&str> = report
            .allocation
            .iter()
            .map(|a| a.population.as_str())
            .collect();
        for (pi, pop) in pops.iter().enumerate() {
            let colour = population_colour(pi);
            let marks: Vec<(f64, f64)> = report
                .steps
                .iter()
                .filter(|s| s.population == *pop)
                .map(|s| {
                    (
                        s.cumulative as f64,
                        100.0 * (s.objective - report.objective_before),
                    )
                })
                .collect();
            chart
                .draw_series(
                    marks
                        .into_iter()
                        .map(|p| Circle::new(p, 5, colour.filled())),
                )
                .map_err(plot_error)?
                .label(format!("step recruits {pop}"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
        }
        legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}
