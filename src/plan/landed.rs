//! A real write whose answer did not come back (a 500, a reset connection) may have landed or
//! not. Sending it again blindly could apply it twice, or overwrite what someone changed in
//! between; so the object is read again and compared with what the plan saw and proposed.

use serde_json::Value;

use super::{Change, diff};

/// What a second look at the object says about a write whose answer was lost.
#[derive(Debug, PartialEq)]
pub(crate) enum Seen {
    /// The object is as the write would leave it: the write landed.
    Landed(Option<Value>),
    /// The object is exactly as it was before: the write did not land, it may be sent again.
    Untouched,
    /// Something else changed it: stop and let the user look.
    Moved,
}

fn version(v: &Value) -> Option<&str> {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// Whether `live` carries every field of `wanted` (maps by key, lists item by item), ignoring
/// what the server writes (status, resourceVersion, ...).
fn carries(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (Value::Object(l), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| l.get(k).is_some_and(|lv| carries(lv, wv))),
        (Value::Array(l), Value::Array(w)) => {
            l.len() == w.len() && l.iter().zip(w).all(|(lv, wv)| carries(lv, wv))
        }
        (l, w) => l == w,
    }
}

/// Decides from the object as it is now (`now`), as it was when the plan was made (`before`)
/// and as the dry run said the write would leave it (`proposed`).
pub(crate) fn seen(
    change: &Change,
    before: Option<&Value>,
    proposed: Option<&Value>,
    now: Option<Value>,
) -> Seen {
    let unchanged = match (before, &now) {
        (None, None) => true,
        (Some(b), Some(n)) => version(b).is_some() && version(b) == version(n),
        _ => false,
    };
    if unchanged {
        return Seen::Untouched;
    }
    match (change, now) {
        (Change::Delete, None) => Seen::Landed(None),
        // Deletion with finalizers pending: the delete was accepted.
        (Change::Delete, Some(n)) if n.pointer("/metadata/deletionTimestamp").is_some() => {
            Seen::Landed(None)
        }
        (Change::Delete, Some(_)) | (_, None) => Seen::Moved,
        (_, Some(n)) => {
            // A Secret's stringData is write-only: the server stores it, encoded, in data.
            let wanted = proposed.map(|p| {
                let mut w = diff::clean(p);
                if let Some(o) = w.as_object_mut() {
                    o.remove("stringData");
                }
                w
            });
            if wanted.is_some_and(|w| carries(&diff::clean(&n), &w)) {
                Seen::Landed(Some(n))
            } else {
                Seen::Moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(rv: &str, replicas: i64) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "web", "resourceVersion": rv},
               "spec": {"replicas": replicas}, "status": {"replicas": 1}})
    }

    #[test]
    fn a_second_look_tells_landed_from_untouched_from_moved() {
        let apply = Change::Apply(json!({}));
        let before = obj("1", 1);
        let proposed = obj("1", 3);
        let seen_now = |now: Option<Value>| seen(&apply, Some(&before), Some(&proposed), now);
        assert_eq!(seen_now(Some(obj("1", 1))), Seen::Untouched);
        assert_eq!(seen_now(Some(obj("2", 3))), Seen::Landed(Some(obj("2", 3))));
        assert_eq!(seen_now(Some(obj("2", 5))), Seen::Moved, "someone else");
        assert_eq!(seen_now(None), Seen::Moved, "deleted meanwhile");
        // A create that did not land, and one that did.
        assert_eq!(seen(&apply, None, Some(&proposed), None), Seen::Untouched);
        assert!(matches!(
            seen(&apply, None, Some(&proposed), Some(obj("7", 3))),
            Seen::Landed(_)
        ));
        let delete = Change::Delete;
        assert_eq!(seen(&delete, Some(&before), None, None), Seen::Landed(None));
        assert_eq!(
            seen(&delete, Some(&before), None, Some(obj("1", 1))),
            Seen::Untouched
        );
    }
}
