//! Objects as the rules read them: a JSON-shaped tree a fifth the size of [`serde_json::Value`].
//!
//! With `preserve_order` every `Value` is 80 bytes and every map entry 112 plus a hash table, so
//! a parsed manifest took twenty times its YAML; at 20,000 objects that alone was most of the
//! run's memory. Here a node is 24 bytes, a map is its entries in order (looked up by a scan:
//! Kubernetes maps are small), and every string is shared with its equals ([`Interner`]):
//! manifests repeat their keys, labels and namespaces on every object. Numbers are serde_json's,
//! so they read and print as before; [`Tree::to_value`] gives the `Value` for what needs one
//! (deserializing into typed structs, validation, patches).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Number, Value};

use crate::generate::openapi::Shape;

/// Text shared by every node that holds the same string.
pub(crate) type Text = Arc<str>;

/// One node of an object.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Tree {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Text),
    Array(Box<[Tree]>),
    Object(Fields),
}

/// A map's entries, in the order they were written, each key once.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Fields(Box<[(Text, Tree)]>);

static NULL: Tree = Tree::Null;

impl Fields {
    pub(crate) fn get(&self, key: &str) -> Option<&Tree> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| v)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Tree)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Tree> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Entries as written, the later of two equal keys keeping the first one's place (as
    /// serde_json's ordered map does).
    fn from_entries(mut entries: Vec<(Text, Tree)>) -> Fields {
        let unique = if entries.len() <= 16 {
            (1..entries.len()).all(|i| entries[..i].iter().all(|(k, _)| *k != entries[i].0))
        } else {
            let mut seen = HashSet::with_capacity(entries.len());
            entries.iter().all(|(k, _)| seen.insert(k.clone()))
        };
        if !unique {
            let mut at: HashMap<Text, usize> = HashMap::new();
            let mut kept: Vec<(Text, Tree)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                match at.get(&k) {
                    Some(&i) => kept[i].1 = v,
                    None => {
                        at.insert(k.clone(), kept.len());
                        kept.push((k, v));
                    }
                }
            }
            entries = kept;
        }
        Fields(entries.into_boxed_slice())
    }
}

impl Tree {
    pub(crate) fn get(&self, key: &str) -> Option<&Tree> {
        self.as_object()?.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Tree> {
        match self {
            Tree::Object(f) => f.0.iter_mut().find(|(k, _)| &**k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Tree::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Tree::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Tree::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[Tree]> {
        match self {
            Tree::Array(items) => Some(items),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&Fields> {
        match self {
            Tree::Object(f) => Some(f),
            _ => None,
        }
    }

    /// The same data as a [`Value`].
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Number(n) => Value::Number(n.clone()),
            Tree::String(s) => Value::String(s.to_string()),
            Tree::Array(items) => Value::Array(items.iter().map(Tree::to_value).collect()),
            Tree::Object(f) => Value::Object(
                f.0.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// A typed reading of this node (a PodSpec, a LabelSelector), as serde_json would read the
    /// same data; `None` when it does not fit.
    pub(crate) fn read<T: de::DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(self.to_value()).ok()
    }

    /// A [`Value`] as a tree, its strings shared through `interner`.
    pub(crate) fn from_value(v: &Value, interner: &mut Interner) -> Tree {
        match v {
            Value::Null => Tree::Null,
            Value::Bool(b) => Tree::Bool(*b),
            Value::Number(n) => Tree::Number(n.clone()),
            Value::String(s) => Tree::String(interner.text(s)),
            Value::Array(items) => Tree::Array(
                items
                    .iter()
                    .map(|x| Tree::from_value(x, interner))
                    .collect(),
            ),
            Value::Object(map) => Tree::Object(Fields(
                map.iter()
                    .map(|(k, x)| (interner.text(k), Tree::from_value(x, interner)))
                    .collect(),
            )),
        }
    }

    /// One YAML document as a tree (`Null` when it is empty).
    pub(crate) fn from_yaml(text: &str, reader: &mut Reader) -> Result<Tree, serde_saphyr::Error> {
        serde_saphyr::with_deserializer_from_str(text, |de| Seed(reader).deserialize(de))
    }
}

/// Comparisons with literals, as serde_json's: a string equals its text, a number its value
/// (`&Tree == &str` comes from `Tree == str`).
impl PartialEq<str> for Tree {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Tree {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

macro_rules! equal_number {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Tree {
            fn eq(&self, other: &$t) -> bool {
                self.as_i64() == Some(i64::from(*other))
            }
        }
        impl PartialEq<$t> for &Tree {
            fn eq(&self, other: &$t) -> bool {
                self.as_i64() == Some(i64::from(*other))
            }
        }
    )*};
}

equal_number!(i32, i64);

impl std::ops::Index<&str> for Tree {
    type Output = Tree;
    fn index(&self, key: &str) -> &Tree {
        self.get(key).unwrap_or(&NULL)
    }
}

/// JSON pointers (`/spec/template/spec`) looked up without building any string: rules look up a
/// few paths on every object.
pub(crate) trait At {
    fn at(&self, pointer: &str) -> Option<&Tree>;
}

impl At for Tree {
    fn at(&self, pointer: &str) -> Option<&Tree> {
        let rest = pointer.strip_prefix('/')?;
        rest.split('/').try_fold(self, |v, token| match v {
            Tree::Object(map) if token.contains('~') => {
                map.get(&token.replace("~1", "/").replace("~0", "~"))
            }
            Tree::Object(map) => map.get(token),
            // An index as RFC 6901 writes it: no sign, no leading zero.
            Tree::Array(items)
                if !token.starts_with('+') && (token == "0" || !token.starts_with('0')) =>
            {
                items.get(token.parse::<usize>().ok()?)
            }
            _ => None,
        })
    }
}

impl crate::generate::openapi::Data for Tree {
    fn shape(&self) -> Shape<'_, Tree> {
        match self {
            Tree::Null => Shape::Null,
            Tree::Bool(b) => Shape::Bool(*b),
            Tree::Number(n) => Shape::Number(n),
            Tree::String(s) => Shape::String(s),
            Tree::Array(items) => Shape::Array(items),
            Tree::Object(_) => Shape::Object,
        }
    }
    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    fn each_field(&self, mut f: impl FnMut(&str, &Tree)) {
        for (k, v) in self.as_object().into_iter().flat_map(Fields::iter) {
            f(k, v);
        }
    }
}

impl Serialize for Tree {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tree::Null => s.serialize_unit(),
            Tree::Bool(b) => s.serialize_bool(*b),
            Tree::Number(n) => n.serialize(s),
            Tree::String(t) => s.serialize_str(t),
            Tree::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for x in items {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Tree::Object(f) => {
                let mut map = s.serialize_map(Some(f.len()))?;
                for (k, v) in f.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Every distinct string seen once, so equal strings share one allocation.
#[derive(Debug, Default)]
pub(crate) struct Interner(HashSet<Text>);

impl Interner {
    pub(crate) fn text(&mut self, s: &str) -> Text {
        if let Some(t) = self.0.get(s) {
            return t.clone();
        }
        let t: Text = Arc::from(s);
        self.0.insert(t.clone());
        t
    }
}

/// What reading documents reuses from one to the next: the interner, and one stack for the
/// entries of the maps being read (innermost last), so each map is built at its final size.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    interner: Interner,
    stack: Vec<(Text, Tree)>,
}

struct Seed<'r>(&'r mut Reader);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Tree;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key as serde_json reads one: through `deserialize_str`.
struct Key<'r>(&'r mut Interner);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Text;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = Text;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
        Ok(self.0.text(s))
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Tree;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Tree, E> {
        Ok(Tree::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Tree, E> {
        Ok(Tree::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Tree, E> {
        Ok(Number::from_f64(n).map_or(Tree::Null, Tree::Number))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Tree, E> {
        Ok(Tree::String(self.0.interner.text(s)))
    }
    fn visit_none<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        Seed(self.0).deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            items.push(v);
        }
        Ok(Tree::Array(items.into_boxed_slice()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let start = self.0.stack.len();
        while let Some(key) = map.next_key_seed(Key(&mut self.0.interner))? {
            let value = map.next_value_seed(Seed(self.0))?;
            self.0.stack.push((key, value));
        }
        let entries: Vec<(Text, Tree)> = self.0.stack.drain(start..).collect();
        Ok(Tree::Object(Fields::from_entries(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Tree {
        Tree::from_yaml(text, &mut Reader::default()).unwrap()
    }

    #[test]
    fn reads_as_serde_json_reads_the_same_yaml() {
        let text = "kind: A\nspec: {replicas: 3, ratio: 0.5, big: 18446744073709551615, neg: -2, on: true, none: ~, list: [a, {b: c}], \"a/b\": x}\n";
        let want: Value = serde_saphyr::from_str(text).unwrap();
        let tree = yaml(text);
        assert_eq!(tree.to_value(), want);
        assert_eq!(serde_json::to_string(&tree).unwrap(), want.to_string());
        assert_eq!(tree.at("/spec/list/1/b").and_then(Tree::as_str), Some("c"));
        assert_eq!(tree.at("/spec/a~1b").and_then(Tree::as_str), Some("x"));
        assert_eq!(tree.at("/spec/list/01"), None);
        assert_eq!(tree["spec"]["replicas"].as_i64(), Some(3));
        assert_eq!(tree["nothing"]["deeper"], Tree::Null);
    }

    #[test]
    fn equal_strings_share_one_allocation() {
        let tree = yaml("a: {team: shop}\nb: {team: shop}\n");
        let (Tree::String(x), Tree::String(y)) = (&tree["a"]["team"], &tree["b"]["team"]) else {
            panic!("strings expected")
        };
        assert!(Arc::ptr_eq(x, y));
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let v = json!({"a": 1, "b": 2});
        let entries = vec![
            (Text::from("a"), Tree::Null),
            (
                Text::from("b"),
                Tree::from_value(&v["b"], &mut Interner::default()),
            ),
            (Text::from("a"), Tree::Bool(true)),
        ];
        let f = Fields::from_entries(entries);
        assert_eq!(f.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(f.get("a"), Some(&Tree::Bool(true)));
    }
}
