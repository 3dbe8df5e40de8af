//! Deterministic synthetic metric definitions for seeding, tests and benchmarks: varied enough
//! that filters, search and compression behave as on real catalogs.

use serde_json::{Value, json};

pub const CATEGORIES: &[&str] = &[
    "KPI",
    "Performance",
    "Finance",
    "Retention",
    "Engineering",
    "Customer Experience",
    "Reliability",
    "Growth",
    "Marketing",
    "Operations",
    "Security",
    "Quality",
];
pub const DOMAINS: &[&str] = &[
    "Digital Experience",
    "Platform",
    "Revenue",
    "Customer Success",
    "Sales",
    "Engineering",
    "Marketing",
    "Supply Chain",
    "People",
    "Risk",
];
pub const OWNER_TEAMS: &[&str] = &[
    "Digital Analytics",
    "SRE",
    "Finance Analytics",
    "Customer Insights",
    "Growth Analytics",
    "Engineering Metrics",
    "Marketing Ops",
    "Data Platform",
    "People Analytics",
    "Risk Office",
    "Product Analytics",
    "Sales Ops",
];
pub const TAGS: &[&str] = &[
    "revenue",
    "latency",
    "availability",
    "conversion",
    "churn",
    "engagement",
    "security",
    "quality",
    "cost",
    "growth",
    "ux",
    "mobile",
    "web",
    "api",
    "billing",
    "support",
    "onboarding",
    "retention",
    "throughput",
    "compliance",
];
const SUBJECTS: &[&str] = &[
    "login",
    "checkout",
    "signup",
    "search",
    "payment",
    "invoice",
    "deployment",
    "ticket",
    "session",
    "order",
    "refund",
    "subscription",
    "api request",
    "page load",
    "trial",
    "renewal",
    "incident",
    "build",
    "shipment",
    "review",
];
const MEASURES: &[(&str, &str, &str)] = &[
    ("Success Rate", "ratio", "increase"),
    ("Failure Rate", "ratio", "decrease"),
    ("Latency P95", "milliseconds", "decrease"),
    ("Volume", "count", "increase"),
    ("Conversion Rate", "percentage", "increase"),
    ("Cycle Time", "hours", "decrease"),
    ("Cost per Unit", "USD", "decrease"),
    ("Satisfaction Score", "score", "increase"),
];
const TIERS: &[&str] = &["Tier-1", "Tier-2", "Tier-3"];
const TYPES: &[&str] = &["leading", "lagging", "operational"];
const STATUSES: &[&str] = &["active", "active", "active", "draft", "deprecated"];
const REGIONS: &[&str] = &["emea", "amer", "apac"];

/// A cheap deterministic mix so neighbouring indices differ in every attribute.
fn pick<'a>(items: &'a [&'a str], i: usize, salt: usize) -> &'a str {
    let h = (i.wrapping_mul(2_654_435_761).wrapping_add(salt.wrapping_mul(40_503))) ^ (i >> 3);
    items[h % items.len()]
}

/// The `i`-th synthetic metric: a full definition in the catalog's format.
pub fn synthetic_metric(i: usize) -> Value {
    let subject = pick(SUBJECTS, i, 1);
    let (measure, unit, direction) = MEASURES[(i / SUBJECTS.len() + i) % MEASURES.len()];
    let name = format!("{} {measure} {}", title(subject), i);
    let id = format!("SYN-{i:07}");
    let category = pick(CATEGORIES, i, 2);
    let domain = pick(DOMAINS, i, 3);
    let team = pick(OWNER_TEAMS, i, 4);
    let tier = pick(TIERS, i, 5);
    let tags: Vec<&str> = {
        let mut t = vec![pick(TAGS, i, 6), pick(TAGS, i, 7)];
        if i.is_multiple_of(3) {
            t.push(pick(TAGS, i, 8));
        }
        t.sort_unstable();
        t.dedup();
        t
    };
    let (target, warning, critical) = if direction == "increase" {
        (0.95, 0.9, 0.85)
    } else {
        (200.0, 300.0, 500.0)
    };
    let event = subject.replace(' ', "_");
    json!({
        "metric_id": id,
        "name": name,
        "short_name": format!("{}_{}", event, measure.to_lowercase().replace(' ', "_")),
        "description": format!(
            "{measure} of {subject} events for the {domain} domain, measured per {} and reviewed by {team}.",
            pick(&["hour", "day", "week"], i, 9)
        ),
        "category": category,
        "tier": tier,
        "business_domain": domain,
        "metric_type": pick(TYPES, i, 10),
        "tags": tags,
        "alignment": {
            "strategic_pillar": pick(&["Customer Experience", "Operational Excellence", "Growth", "Efficiency"], i, 11),
            "primary_objective_ids": [format!("OBJ-{:03}", i % 40)],
            "why_it_matters": format!("Tracks how well {subject} flows serve {domain} goals.")
        },
        "definition": {
            "formula": format!("{event}_{} / {event}_total", if direction == "increase" { "ok" } else { "bad" }),
            "formula_detail": format!("Count of qualifying {subject} events divided by all {subject} events in the window."),
            "numerator": { "event_name": format!("{event}_ok"), "filters": [] },
            "denominator": { "event_name": format!("{event}_total"), "filters": [] },
            "unit": unit,
            "expected_direction": direction
        },
        "data": {
            "primary_sources": [{
                "system": pick(&["product_analytics", "billing_db", "observability", "crm"], i, 12),
                "table_or_stream": format!("events_{event}"),
                "connection_id": "analytics_warehouse"
            }],
            "data_freshness": pick(&["near_real_time", "hourly", "daily"], i, 13),
            "update_frequency": pick(&["5_minutes", "hourly", "daily"], i, 14),
            "time_grain": ["day", "week"]
        },
        "governance": {
            "data_classification": pick(&["Non-PII", "Internal", "Confidential"], i, 15),
            "pii_involved": i.is_multiple_of(7),
            "owner_team": team,
            "technical_owner": format!("{}_engineering", event),
            "business_owner": format!("Head of {domain}"),
            "status": pick(STATUSES, i, 16)
        },
        "dimensions": [
            { "name": "region", "allowed_values": REGIONS, "required": i.is_multiple_of(2) },
            { "name": "platform", "allowed_values": ["web", "ios", "android"], "required": false }
        ],
        "targets_and_alerts": {
            "target_value": target,
            "warning_threshold": warning,
            "critical_threshold": critical,
            "alert_rules": [{
                "rule_id": format!("ALERT-{i:07}"),
                "condition": "value breaches critical_threshold",
                "severity": "critical",
                "notify_channels": [format!("slack:#{}", team.to_lowercase().replace(' ', "-"))]
            }]
        },
        "metadata": { "notes": format!("Synthetic metric number {i}.") }
    })
}

fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}
