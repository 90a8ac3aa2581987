//! Whether a request survived the round trip: the same keys and the same shapes, with key order
//! and scalar spelling (`"42"`/`42`, `"Y"`/`true`) aside.

use serde_json::Value;

/// One way the round-tripped params differ from the documented ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Keys (and list indexes) from the top of the params.
    pub path: Vec<String>,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A documented key did not come back: the type has no such field.
    Lost,
    /// A key came back that the docs did not send.
    Added,
    /// The value came back in another shape.
    Shape {
        documented: &'static str,
        sent: &'static str,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.join(".");
        match &self.what {
            What::Lost => write!(f, "`{path}` is dropped"),
            What::Added => write!(f, "`{path}` is added"),
            What::Shape { documented, sent } => {
                write!(f, "`{path}`: the docs send {documented}, the SDK {sent}")
            }
        }
    }
}

/// The differences between the documented params and the round-tripped ones.
pub fn differences(documented: &Value, back: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(documented, back, &mut Vec::new(), &mut out);
    out
}

/// The shape of a value: a list, an object, a scalar, or nothing.
pub fn shape(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "a list",
        Value::Object(map) if is_index_map(map) => "a list",
        Value::Object(_) => "an object",
        Value::Null => "null",
        _ => "a scalar",
    }
}

/// `{"0": .., "1": ..}`: how PHP sends a list it built by index; the same as a list.
fn is_index_map(map: &serde_json::Map<String, Value>) -> bool {
    !map.is_empty() && map.keys().all(|k| k.parse::<u64>().is_ok())
}

/// Values a decoder reads as "absent" (and so does not send back): they may vanish.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Number(_) => false,
    }
}

fn items(value: &Value) -> Option<Vec<&Value>> {
    match value {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Object(map) if is_index_map(map) => Some(map.values().collect()),
        _ => None,
    }
}

fn walk(documented: &Value, back: &Value, path: &mut Vec<String>, out: &mut Vec<Difference>) {
    if let (Some(a), Some(b)) = (items(documented), items(back)) {
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            path.push(i.to_string());
            walk(a, b, path, out);
            path.pop();
        }
        if a.len() != b.len() {
            out.push(Difference {
                path: path.clone(),
                what: What::Shape {
                    documented: "a list",
                    sent: "a list of another length",
                },
            });
        }
        return;
    }
    match (documented, back) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                path.push(key.clone());
                match b.get(key) {
                    Some(returned) => walk(value, returned, path, out),
                    None if is_empty(value) => {}
                    None => out.push(Difference {
                        path: path.clone(),
                        what: What::Lost,
                    }),
                }
                path.pop();
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                path.push(key.clone());
                out.push(Difference {
                    path: path.clone(),
                    what: What::Added,
                });
                path.pop();
            }
        }
        (a, b) if shape(a) == shape(b) => {}
        (a, b) if is_empty(a) && is_empty(b) => {}
        (a, b) => out.push(Difference {
            path: path.clone(),
            what: What::Shape {
                documented: shape(a),
                sent: shape(b),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spelling_order_and_empty_values_do_not_count() {
        let documented =
            json!({"ID": "42", "ACTIVE": "Y", "A": {"x": 1, "y": 2}, "E": "", "L": {"0": 1}});
        let back = json!({"A": {"y": 2, "x": 1}, "ACTIVE": true, "ID": 42, "L": [1]});
        assert_eq!(differences(&documented, &back), []);
    }

    #[test]
    fn lost_keys_and_changed_shapes_count() {
        let documented = json!({"FIELDS": {"PHONE": [{"VALUE": "1"}]}, "X": 1});
        let back = json!({"FIELDS": {"PHONE": {"VALUE": "1"}}});
        let found: Vec<String> = differences(&documented, &back)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "`FIELDS.PHONE`: the docs send a list, the SDK an object",
                "`X` is dropped"
            ]
        );
    }
}
