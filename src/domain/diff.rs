//! Value-level differences between two JSON documents as RFC 6902 JSON Patch operations.

use super::versioning::json_eq;
use serde::Serialize;
use serde_json::{Map, Value};

/// One JSON Patch operation. Only the three a diff needs: applying the list in order to the old
/// document gives the new one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Operation {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
}

/// The operations turning `old` into `new`. Objects are compared key by key and arrays index by
/// index (a changed element is patched in place, a longer array grows at its end, a shorter one
/// loses its tail from the last index down so every path stays valid while applying). Numbers
/// compare by value, as the version counter does, so `1` and `1.0` are no change.
pub fn diff(old: &Value, new: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    diff_at(&mut String::new(), old, new, &mut ops);
    ops
}

/// `diff` of two documents without the given top-level fields (the server-managed ones, which
/// differ between any two versions).
pub fn diff_documents(old: &Map<String, Value>, new: &Map<String, Value>, skip: &[&str]) -> Vec<Operation> {
    let strip = |doc: &Map<String, Value>| {
        Value::Object(
            doc.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    diff(&strip(old), &strip(new))
}

fn diff_at(path: &mut String, old: &Value, new: &Value, ops: &mut Vec<Operation>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old_v) in a {
                let len = push_token(path, key);
                match b.get(key) {
                    None => ops.push(Operation::Remove { path: path.clone() }),
                    Some(new_v) => diff_at(path, old_v, new_v, ops),
                }
                path.truncate(len);
            }
            for (key, new_v) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                let len = push_token(path, key);
                ops.push(Operation::Add {
                    path: path.clone(),
                    value: new_v.clone(),
                });
                path.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (old_v, new_v)) in a.iter().zip(b).enumerate() {
                let len = push_token(path, &i.to_string());
                diff_at(path, old_v, new_v, ops);
                path.truncate(len);
            }
            for (i, new_v) in b.iter().enumerate().skip(a.len()) {
                let len = push_token(path, &i.to_string());
                ops.push(Operation::Add {
                    path: path.clone(),
                    value: new_v.clone(),
                });
                path.truncate(len);
            }
            for i in (b.len()..a.len()).rev() {
                let len = push_token(path, &i.to_string());
                ops.push(Operation::Remove { path: path.clone() });
                path.truncate(len);
            }
        }
        (a, b) if !json_eq(a, b) => ops.push(Operation::Replace {
            path: path.clone(),
            value: b.clone(),
        }),
        _ => {}
    }
}

/// Appends `/token` escaped as RFC 6901 requires (`~` as `~0`, `/` as `~1`); returns the length
/// to truncate back to.
fn push_token(path: &mut String, token: &str) -> usize {
    let len = path.len();
    path.push('/');
    path.push_str(&token.replace('~', "~0").replace('/', "~1"));
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Applies operations the way RFC 6902 does, enough to check a diff round-trips.
    fn apply(doc: &mut Value, ops: &[Operation]) {
        for op in ops {
            let (path, value) = match op {
                Operation::Add { path, value } | Operation::Replace { path, value } => (path, Some(value.clone())),
                Operation::Remove { path } => (path, None),
            };
            let (parent, last) = path.rsplit_once('/').expect("non-root path");
            let last = last.replace("~1", "/").replace("~0", "~");
            let target = if parent.is_empty() {
                &mut *doc
            } else {
                doc.pointer_mut(parent).expect("parent exists")
            };
            match (target, op) {
                (Value::Object(map), _) => {
                    match value {
                        Some(v) => map.insert(last, v),
                        None => map.remove(&last),
                    };
                }
                (Value::Array(items), Operation::Add { value, .. }) => {
                    items.insert(last.parse().expect("index"), value.clone())
                }
                (Value::Array(items), Operation::Replace { value, .. }) => {
                    items[last.parse::<usize>().expect("index")] = value.clone()
                }
                (Value::Array(items), Operation::Remove { .. }) => {
                    items.remove(last.parse().expect("index"));
                }
                _ => panic!("bad target"),
            }
        }
    }

    #[test]
    fn operations_turn_the_old_document_into_the_new() {
        let old = json!({"a": 1, "b": {"c": [1, 2, 3], "d": "x"}, "e/f": 1, "g~h": [{"k": 1}], "gone": true});
        let new =
            json!({"a": 2, "b": {"c": [1, 5], "d": "x", "n": null}, "e/f": 1, "g~h": [{"k": 2}, {"k": 3}], "new": [1]});
        let ops = diff(&old, &new);
        let mut patched = old.clone();
        apply(&mut patched, &ops);
        assert_eq!(patched, new);
        let paths: Vec<String> = ops
            .iter()
            .map(|o| match o {
                Operation::Add { path, .. } | Operation::Remove { path } | Operation::Replace { path, .. } => {
                    path.clone()
                }
            })
            .collect();
        assert!(paths.contains(&"/g~0h/0/k".to_string()), "{paths:?}");
        assert!(paths.contains(&"/b/c/2".to_string()), "{paths:?}");
    }

    #[test]
    fn equal_values_and_equal_numbers_give_no_operations() {
        assert!(diff(&json!({"x": 1, "y": [1.5]}), &json!({"x": 1.0, "y": [1.5]})).is_empty());
    }

    #[test]
    fn serialises_as_json_patch() {
        let ops = diff(&json!({"a": 1, "b": 2}), &json!({"a": 3, "c": 4}));
        assert_eq!(
            serde_json::to_value(&ops).expect("serialises"),
            json!([
                {"op": "replace", "path": "/a", "value": 3},
                {"op": "remove", "path": "/b"},
                {"op": "add", "path": "/c", "value": 4}
            ])
        );
    }

    #[test]
    fn skipped_fields_are_left_out() {
        let old = json!({"a": 1, "version": 1}).as_object().cloned().expect("object");
        let new = json!({"a": 1, "version": 2}).as_object().cloned().expect("object");
        assert!(diff_documents(&old, &new, &["version"]).is_empty());
        assert_eq!(diff_documents(&old, &new, &[]).len(), 1);
    }
}
