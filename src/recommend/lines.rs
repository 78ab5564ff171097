//! Which line of a manifest a field path is written on.
//!
//! Objects are read as plain JSON values for the rules; only when something must point at a
//! field (a schema problem) is its document parsed once more with positions, so the common case
//! pays nothing for them.

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::generate::openapi::Step;

/// A YAML node with the line of every key and item under it.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, usize, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let line = key.referenced.line() as usize;
            let name = match key.value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            entries.push((name, line, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
}

/// The 1-based line (within `document`) where the deepest existing step of `path` is written:
/// a key's own line, an item's first line. `None` when the document does not parse.
pub(crate) fn line_of(document: &str, path: &[Step]) -> Option<usize> {
    let root: Spanned<Node> = serde_saphyr::from_str(document).ok()?;
    let mut line = root.referenced.line() as usize;
    let mut node = &root.value;
    for step in path {
        let next = match (node, step) {
            (Node::Map(entries), Step::Key(k)) => entries
                .iter()
                .find(|(name, _, _)| name == k)
                .map(|(_, l, v)| (*l, v)),
            (Node::Seq(items), Step::Index(i)) => {
                items.get(*i).map(|v| (v.referenced.line() as usize, v))
            }
            _ => None,
        };
        let Some((l, v)) = next else { break };
        line = l;
        node = &v.value;
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn keys_and_items_have_their_own_lines() {
        let doc = "kind: Deployment\nspec:\n  replicas: many\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n      - name: b\n        imagee: y\n";
        assert_eq!(line_of(doc, &[key("spec"), key("replicas")]), Some(3));
        let second = [
            key("spec"),
            key("template"),
            key("spec"),
            key("containers"),
            Step::Index(1),
        ];
        assert_eq!(line_of(doc, &second), Some(9));
        let mut field = second.to_vec();
        field.push(key("imagee"));
        assert_eq!(line_of(doc, &field), Some(10));
        // A path that goes further than the document stops at the deepest step it has.
        assert_eq!(line_of(doc, &[key("spec"), key("selector")]), Some(2));
    }
}
