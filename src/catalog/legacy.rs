//! The older MDL's template shapes, mapped onto our model without losing a field: renamed keys
//! keep their values and position, everything else is kept as sent. Errors found on a renamed
//! field are reported under the name the file used.

use serde_json::{Map, Value};

/// Which of our field paths came from which of the file's fields.
#[derive(Debug, Default)]
pub struct Renames(Vec<(String, String)>);

impl Renames {
    /// Rewrites an error path on one of our names back to the file's name.
    pub fn original(&self, field: &str) -> String {
        for (ours, theirs) in &self.0 {
            if field == ours {
                return theirs.clone();
            }
            if let Some(rest) = field.strip_prefix(ours.as_str())
                && (rest.starts_with('.') || rest.starts_with('['))
            {
                return format!("{theirs}{rest}");
            }
        }
        field.to_string()
    }
}

/// Renames `from` to `to` in place (same position), unless `to` is already present.
fn rename(obj: &mut Map<String, Value>, from: &str, to: &str, renames: &mut Renames, prefix: &str) {
    if !obj.contains_key(from) || obj.contains_key(to) {
        return;
    }
    let entries = std::mem::take(obj);
    for (k, v) in entries {
        if k == from {
            obj.insert(to.to_string(), v);
        } else {
            obj.insert(k, v);
        }
    }
    renames.0.push((format!("{prefix}{to}"), format!("{prefix}{from}")));
}

/// Domain template: `id` -> `domain_id`, `owner` -> `owner_team`.
pub fn domain(mut obj: Map<String, Value>) -> (Value, Renames) {
    let mut renames = Renames::default();
    rename(&mut obj, "id", "domain_id", &mut renames, "");
    rename(&mut obj, "owner", "owner_team", &mut renames, "");
    (Value::Object(obj), renames)
}

/// Objective template: `title` -> `name`, `owner` -> `owner_team`, `business_priority` ->
/// `priority`, `strategic_theme` -> `strategic_pillar`, `start_date`/`end_date` -> `timeframe`,
/// and each key result's single `metric_id` -> `metric_ids`.
pub fn objective(mut obj: Map<String, Value>) -> (Value, Renames) {
    let mut renames = Renames::default();
    rename(&mut obj, "title", "name", &mut renames, "");
    rename(&mut obj, "owner", "owner_team", &mut renames, "");
    rename(&mut obj, "business_priority", "priority", &mut renames, "");
    rename(&mut obj, "strategic_theme", "strategic_pillar", &mut renames, "");
    let dates = ["start_date", "end_date"];
    if !obj.contains_key("timeframe") && dates.iter().any(|d| obj.contains_key(*d)) {
        let entries = std::mem::take(&mut obj);
        let mut timeframe = Map::new();
        for (date, key) in dates.iter().zip(["start", "end"]) {
            if let Some(v) = entries.get(*date) {
                timeframe.insert(key.into(), v.clone());
            }
        }
        let mut timeframe = Some(Value::Object(timeframe));
        for (k, v) in entries {
            if !dates.contains(&k.as_str()) {
                obj.insert(k, v);
            } else if let Some(tf) = timeframe.take() {
                // The timeframe takes the place of whichever date came first.
                obj.insert("timeframe".into(), tf);
            }
        }
        renames.0.push(("timeframe.start".into(), "start_date".into()));
        renames.0.push(("timeframe.end".into(), "end_date".into()));
    }
    if let Some(Value::Array(krs)) = obj.get_mut("key_results") {
        for (i, kr) in krs.iter_mut().enumerate() {
            if let Value::Object(kr) = kr
                && !kr.contains_key("metric_ids")
                && let Some(single) = kr.get("metric_id").cloned()
            {
                let list = match single {
                    Value::Null => Value::Array(vec![]),
                    other => Value::Array(vec![other]),
                };
                let entries = std::mem::take(kr);
                for (k, v) in entries {
                    if k == "metric_id" {
                        kr.insert("metric_ids".into(), list.clone());
                    } else {
                        kr.insert(k, v);
                    }
                }
                let prefix = format!("key_results[{i}]");
                renames
                    .0
                    .push((format!("{prefix}.metric_ids[0]"), format!("{prefix}.metric_id")));
                renames
                    .0
                    .push((format!("{prefix}.metric_ids"), format!("{prefix}.metric_id")));
            }
        }
    }
    (Value::Object(obj), renames)
}
