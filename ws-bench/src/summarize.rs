//! `summarize`: the table of a benchmark suite. Reads the JSON lines of
//! several runs (each tagged with `--label`), groups them by workload, and
//! prints per metric the median of each label's runs (the worst run for
//! loss and failures) with the ratios framework / each baseline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::args::ArgError;

pub const USAGE: &str = "\
ws-bench summarize: prints a Markdown table from the JSON lines of runs made
with --label (core, naive, naive-nodelay, raw, tungstenite, socketio): medians per label, the worst run for loss and
failures, and the ratios core/naive and core/raw.

USAGE: ws-bench summarize FILE... (JSON lines; other lines are skipped)
";

#[derive(Clone, Copy)]
enum Agg {
    Median,
    Worst,
}

/// Per bench: the fields naming the workload, and the metrics to show.
fn layout(bench: &str) -> (&'static [&'static str], &'static [(&'static str, Agg)]) {
    use Agg::{Median, Worst};
    match bench {
        "fanout" => (
            &["clients", "size", "window"],
            &[
                ("server_cpu_us_per_delivery", Median),
                ("deliveries_per_s", Median),
                ("p50_us", Median),
                ("p99_us", Median),
                ("lost", Worst),
                ("reordered", Worst),
            ],
        ),
        "echo" => (
            &["clients", "size"],
            &[
                ("round_trips_per_s", Median),
                ("server_cpu_us_per_round_trip", Median),
                ("p50_us", Median),
                ("p99_us", Median),
                ("errors", Worst),
            ],
        ),
        "connect" => (
            &["count", "concurrency"],
            &[
                ("connections_per_s", Median),
                ("server_cpu_us_per_connection", Median),
                ("failures", Worst),
            ],
        ),
        "idle" => (
            &["count"],
            &[
                ("server_rss_kib_per_connection", Median),
                ("held", Worst),
                ("failures", Worst),
                ("dropped_during_hold", Worst),
            ],
        ),
        "large" => (
            &["clients", "size"],
            &[
                ("server_peak_rise_mib", Median),
                ("last_delivery_s", Median),
                ("lost", Worst),
            ],
        ),
        _ => (&[], &[]),
    }
}

pub fn parse(args: &[String]) -> Result<Value, ArgError> {
    if args.is_empty() {
        return Err(ArgError::Bad(USAGE.to_owned()));
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Err(ArgError::Help(USAGE));
    }
    let mut lines = Vec::new();
    for file in args {
        let text =
            std::fs::read_to_string(file).map_err(|e| ArgError::Bad(format!("{file}: {e}")))?;
        lines.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
        );
    }
    print!("{}", table(&lines));
    Ok(Value::Null)
}

/// The Markdown table of `runs`.
pub fn table(runs: &[Value]) -> String {
    // (bench, workload) -> label -> runs
    let mut groups: BTreeMap<(String, String), BTreeMap<String, Vec<&Value>>> = BTreeMap::new();
    for run in runs {
        let (Some(bench), Some(label)) = (run["bench"].as_str(), run["label"].as_str()) else {
            continue;
        };
        let (keys, _) = layout(bench);
        let workload = keys
            .iter()
            .map(|k| format!("{k}={}", run[*k]))
            .collect::<Vec<_>>()
            .join(" ");
        groups
            .entry((bench.to_owned(), workload))
            .or_default()
            .entry(label.to_owned())
            .or_default()
            .push(run);
    }
    // Columns: core first, then the baselines and peers present, in a
    // fixed order (unknown labels last, by name); a ratio core/X for each.
    const ORDER: &[&str] = &[
        "core",
        "naive",
        "naive-nodelay",
        "raw",
        "tungstenite",
        "socketio",
    ];
    let mut columns: Vec<String> = groups
        .values()
        .flat_map(|labels| labels.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    columns.sort_by_key(|l| {
        (
            ORDER.iter().position(|o| o == l).unwrap_or(ORDER.len()),
            l.clone(),
        )
    });
    let others: Vec<&String> = columns.iter().filter(|l| *l != "core").collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| bench | workload | metric | {} | {}runs |",
        columns.join(" | "),
        others
            .iter()
            .map(|l| format!("core/{l} | "))
            .collect::<String>()
    );
    let _ = writeln!(
        out,
        "|---|---|---|{}{}---|",
        "---:|".repeat(columns.len()),
        "---:|".repeat(others.len())
    );
    for ((bench, workload), labels) in &groups {
        let (_, metrics) = layout(bench);
        for (metric, agg) in metrics {
            let value = |label: &str| -> Option<f64> {
                let mut xs: Vec<f64> = labels
                    .get(label)?
                    .iter()
                    .filter_map(|r| r[*metric].as_f64())
                    .collect();
                if xs.is_empty() {
                    return None;
                }
                xs.sort_by(f64::total_cmp);
                Some(match agg {
                    Agg::Median if xs.len().is_multiple_of(2) => {
                        (xs[xs.len() / 2 - 1] + xs[xs.len() / 2]) / 2.0
                    }
                    Agg::Median => xs[xs.len() / 2],
                    Agg::Worst if *metric == "held" => xs[0],
                    Agg::Worst => xs[xs.len() - 1],
                })
            };
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b != 0.0 && matches!(agg, Agg::Median) => {
                    format!("{:.2}x", a / b)
                }
                _ => "".to_owned(),
            };
            let cell = |x: Option<f64>| x.map_or("".to_owned(), fmt);
            let core = value("core");
            let runs = labels
                .iter()
                .map(|(l, r)| format!("{l}:{}", r.len()))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "| {bench} | {workload} | {metric} | {} | {}{runs} |",
                columns
                    .iter()
                    .map(|l| cell(value(l)))
                    .collect::<Vec<_>>()
                    .join(" | "),
                others
                    .iter()
                    .map(|l| format!("{} | ", ratio(core, value(l))))
                    .collect::<String>(),
            );
        }
    }
    out
}

fn fmt(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn medians_and_ratios() {
        let runs = vec![
            json!({"bench":"fanout","label":"core","clients":100,"size":100,"window":128,"server_cpu_us_per_delivery":0.4,"lost":0}),
            json!({"bench":"fanout","label":"core","clients":100,"size":100,"window":128,"server_cpu_us_per_delivery":0.6,"lost":0}),
            json!({"bench":"fanout","label":"core","clients":100,"size":100,"window":128,"server_cpu_us_per_delivery":0.5,"lost":0}),
            json!({"bench":"fanout","label":"naive","clients":100,"size":100,"window":128,"server_cpu_us_per_delivery":2.0,"lost":7}),
        ];
        let table = super::table(&runs);
        assert!(
            table.contains("| server_cpu_us_per_delivery | 0.500 | 2.000 | 0.25x |"),
            "{table}"
        );
        assert!(table.contains("| lost | 0.000 | 7.000 |"), "{table}");
        assert!(
            table.starts_with("| bench | workload | metric | core | naive | core/naive | runs |"),
            "{table}"
        );
    }
}
