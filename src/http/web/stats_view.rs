//! The catalog's shape as bar charts drawn on the server: each chart is an SVG laid out here
//! (positions as attributes, never inline styles, which the pages' policy forbids) and the
//! same numbers as a table for screen readers.

use crate::store::CatalogStats;
use askama::Template;
use std::collections::BTreeMap;

/// Bars per chart; the rest are summed into one "other" bar.
const MAX_BARS: usize = 15;
/// Geometry in SVG user units: a label column, then bars, then room for the count.
const WIDTH: u32 = 640;
const LABEL_WIDTH: u32 = 220;
const BAR_SPACE: u32 = 360;
const ROW: u32 = 26;
const BAR: u32 = 18;
const LABEL_CHARS: usize = 30;

pub struct Bar {
    pub label: String,
    /// The label as drawn (shortened when long; the table has it whole).
    pub short: String,
    pub count: u64,
    pub y: u32,
    pub text_y: u32,
    pub width: u32,
    pub count_x: u32,
}

pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub heading: &'static str,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub label_x: u32,
    pub bar_x: u32,
    pub bar_height: u32,
    pub bars: Vec<Bar>,
}

fn shorten(label: &str) -> String {
    match label.char_indices().nth(LABEL_CHARS) {
        Some((cut, _)) => format!("{}…", &label[..cut]),
        None => label.to_string(),
    }
}

/// Most frequent first, ties by value; the tail beyond `MAX_BARS - 1` summed as "Other".
fn ordered(counts: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut values: Vec<(String, u64)> = counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if values.len() > MAX_BARS {
        let rest = values.split_off(MAX_BARS - 1);
        let others = rest.len();
        values.push((format!("Other ({others} values)"), rest.iter().map(|(_, n)| n).sum()));
    }
    values
}

pub fn chart(id: &'static str, heading: &'static str, title: &'static str, counts: &BTreeMap<String, u64>) -> Chart {
    let values = ordered(counts);
    let max = values.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let total: u64 = counts.values().sum();
    let description = match values.first() {
        None => format!("{title}: no metrics yet."),
        Some((top, n)) => format!(
            "{title}: {} values over {total} metrics; the largest is {top} with {n}.",
            counts.len()
        ),
    };
    let bars = values
        .into_iter()
        .enumerate()
        .map(|(i, (label, count))| {
            let y = i as u32 * ROW + 4;
            // At least one unit, so a value with few metrics still shows a bar.
            let width = ((count as f64 / max as f64) * f64::from(BAR_SPACE)).round().max(1.0) as u32;
            Bar {
                short: shorten(&label),
                label,
                count,
                y,
                text_y: y + BAR - 4,
                width,
                count_x: LABEL_WIDTH + width + 6,
            }
        })
        .collect::<Vec<_>>();
    Chart {
        id,
        title,
        heading,
        description,
        width: WIDTH,
        height: (bars.len() as u32).max(1) * ROW + 8,
        label_x: LABEL_WIDTH - 8,
        bar_x: LABEL_WIDTH,
        bar_height: BAR,
        bars,
    }
}

pub struct StatsView {
    pub total_metrics: u64,
    pub total_domains: u64,
    pub total_objectives: u64,
    pub charts: Vec<Chart>,
}

pub fn build(stats: &CatalogStats) -> StatsView {
    StatsView {
        total_metrics: stats.total_metrics,
        total_domains: stats.total_domains,
        total_objectives: stats.total_objectives,
        charts: vec![
            chart("category", "By category", "Metrics by category", &stats.by_category),
            chart("tier", "By tier", "Metrics by tier", &stats.by_tier),
            chart(
                "domain",
                "By business domain",
                "Metrics by business domain",
                &stats.by_business_domain,
            ),
            chart("status", "By status", "Metrics by status", &stats.by_status),
            chart("owner", "By owner team", "Metrics by owner team", &stats.by_owner_team),
            chart(
                "type",
                "By metric type",
                "Metrics by metric type",
                &stats.by_metric_type,
            ),
        ],
    }
}

/// The stats page's content.
#[derive(Template)]
#[template(path = "web/stats.html")]
pub struct StatsMain {
    pub s: StatsView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_the_tail_is_summed() {
        let mut counts: BTreeMap<String, u64> = (0..20).map(|i| (format!("v{i:02}"), 1)).collect();
        counts.insert("big".into(), 10);

        let c = chart("x", "X", "Metrics by x", &counts);

        assert_eq!(c.bars.len(), MAX_BARS);
        assert_eq!((c.bars[0].label.as_str(), c.bars[0].width), ("big", BAR_SPACE));
        assert_eq!(c.bars[1].width, BAR_SPACE / 10);
        let last = c.bars.last().unwrap_or_else(|| panic!("bars"));
        assert_eq!((last.label.as_str(), last.count), ("Other (7 values)", 7));
        assert!(c.description.contains("21 values over 30 metrics"));
    }
}
