//! Targets and alert thresholds as a small scale drawn in SVG on the server: zones for
//! critical, warning and fine, a mark per value, and a description stating the numbers for
//! those who cannot see it. Only attributes and classes (the pages' policy forbids styles).

/// A coloured stretch of the scale.
pub struct Zone {
    pub x: String,
    pub width: String,
    /// `critical`, `warning` or `fine`: the stylesheet colours them.
    pub class: &'static str,
}

/// A labelled value on the scale.
pub struct Mark {
    pub x: String,
    pub label: String,
    pub class: &'static str,
    /// Labels alternate above and below the line so close values stay readable.
    pub label_y: &'static str,
}

pub struct Scale {
    pub zones: Vec<Zone>,
    pub marks: Vec<Mark>,
    pub description: String,
}

pub const WIDTH: f64 = 480.0;
const PAD: f64 = 24.0;

fn coord(x: f64) -> String {
    format!("{x:.1}")
}

/// `None` when the definition sets none of the three values.
pub fn build(
    target: Option<f64>,
    warning: Option<f64>,
    critical: Option<f64>,
    direction: Option<&str>,
    number: impl Fn(f64) -> String,
) -> Option<Scale> {
    let values: Vec<(&'static str, &'static str, f64)> = [
        ("Target", "target", target),
        ("Warning", "warning", warning),
        ("Critical", "critical", critical),
    ]
    .into_iter()
    .filter_map(|(label, class, v)| Some((label, class, v.filter(|v| v.is_finite())?)))
    .collect();
    if values.is_empty() {
        return None;
    }
    let lo = values.iter().map(|v| v.2).fold(f64::INFINITY, f64::min);
    let hi = values.iter().map(|v| v.2).fold(f64::NEG_INFINITY, f64::max);
    // Some room either side, and a range even when every value is the same.
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    let (lo, hi) = (lo - span * 0.25, hi + span * 0.25);
    let x = |v: f64| PAD + (v - lo) / (hi - lo) * (WIDTH - 2.0 * PAD);
    // Higher is better when asked, or when the critical line sits below the warning line.
    let higher_better = match direction {
        Some("increase") => Some(true),
        Some("decrease") => Some(false),
        _ => match (warning, critical) {
            (Some(w), Some(c)) if c < w => Some(true),
            (Some(w), Some(c)) if c > w => Some(false),
            _ => None,
        },
    };
    let (left, right) = (PAD, WIDTH - PAD);
    let mut zones = Vec::new();
    let mut push = |from: f64, to: f64, class| {
        if to > from {
            zones.push(Zone {
                x: coord(from),
                width: coord(to - from),
                class,
            });
        }
    };
    match (higher_better, warning, critical) {
        (Some(true), w, c) => {
            let c_x = c.map_or(left, x);
            let w_x = w.map_or(c_x, x).max(c_x);
            push(left, c_x, "critical");
            push(c_x, w_x, "warning");
            push(w_x, right, "fine");
        }
        (Some(false), w, c) => {
            let c_x = c.map_or(right, x);
            let w_x = w.map_or(c_x, x).min(c_x);
            push(left, w_x, "fine");
            push(w_x, c_x, "warning");
            push(c_x, right, "critical");
        }
        _ => push(left, right, "neutral"),
    }
    let mut sorted = values.clone();
    sorted.sort_by(|a, b| a.2.total_cmp(&b.2));
    let marks = sorted
        .iter()
        .enumerate()
        .map(|(i, (label, class, v))| Mark {
            x: coord(x(*v)),
            label: format!("{label} {}", number(*v)),
            class,
            label_y: if i % 2 == 0 { "14" } else { "62" },
        })
        .collect();
    let stated: Vec<String> = values
        .iter()
        .map(|(label, _, v)| format!("{} {}", label.to_lowercase(), number(*v)))
        .collect();
    let reading = match higher_better {
        Some(true) => "; higher is better",
        Some(false) => "; lower is better",
        None => "",
    };
    Some(Scale {
        zones,
        marks,
        description: format!("Scale: {}{reading}.", stated.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_is_better_when_critical_is_below_warning() {
        let s = build(Some(95.0), Some(90.0), Some(85.0), None, |n| n.to_string()).expect("a scale");
        assert_eq!(
            s.description,
            "Scale: target 95, warning 90, critical 85; higher is better."
        );
        assert_eq!(
            s.zones.iter().map(|z| z.class).collect::<Vec<_>>(),
            ["critical", "warning", "fine"]
        );
        assert_eq!(s.marks.len(), 3);
    }

    #[test]
    fn nothing_to_draw_without_values() {
        assert!(build(None, None, None, None, |n| n.to_string()).is_none());
        let one = build(Some(3.0), None, None, Some("decrease"), |n| n.to_string()).expect("a scale");
        assert_eq!(one.description, "Scale: target 3; lower is better.");
    }
}
