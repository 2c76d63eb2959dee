//! Reading one top-level value of a text straight from the parser, without building the whole
//! value first: a `List`'s items are turned into objects one at a time, so memory holds the
//! objects read plus one item, not a tree of the whole text.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::{Map, Value};

use super::object::{fill_type, has_kind, is_list_kind, item_defaults};
use super::sink::Sink;

/// One top-level value of a text, read into a [`Sink`] of its own (indices from 0): nothing
/// (`null`), an array of objects, a `List` of objects, or one object.
pub(super) struct Document(pub Sink);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut sink = Sink::default();
        deserializer.deserialize_any(Top(&mut sink))?;
        Ok(Document(sink))
    }
}

/// The visitor of a top-level value.
struct Top<'a>(&'a mut Sink);

/// What a mapping's `items` held.
enum Items {
    /// No `items` key.
    Absent,
    /// `items: null`.
    Null,
    /// An array: its items that named their kind were read already; the others wait for the
    /// list's kind (a typed list may name it after its items), each with its reserved index.
    Array(Vec<(usize, Value)>),
    /// Anything else.
    NotArray,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object, a List, or an array of objects")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.0.fail_here("not an object but a boolean".to_owned());
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.visit_f64(0.0)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.visit_f64(0.0)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.0.fail_here("not an object but a number".to_owned());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.0.fail_here("not an object but a string".to_owned());
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            self.0.read_object(item);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let sink = self.0;
        let mark = sink.mark();
        let mut rest = Map::new();
        let mut items = Items::Absent;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && matches!(items, Items::Absent) {
                items = map.next_value_seed(ListItems(sink))?;
            } else {
                rest.insert(key, map.next_value::<Value>()?);
            }
        }
        if !is_list_kind(&rest) || matches!(items, Items::Absent) {
            // Not a list after all: an `items` field is none of our kinds' fields.
            sink.rollback(mark);
            sink.read_object(Value::Object(rest));
            return Ok(());
        }
        match items {
            Items::Absent | Items::Null => {}
            Items::NotArray => sink.fail_here("a List whose items is not an array".to_owned()),
            Items::Array(waiting) => {
                let defaults = item_defaults(&rest);
                for (index, mut item) in waiting {
                    if let Some((api_version, kind)) = &defaults {
                        fill_type(&mut item, api_version, kind);
                    }
                    sink.read_object_at(index, item);
                }
            }
        }
        Ok(())
    }
}

/// The seed of a mapping's `items`: items that name their kind are read as they come.
struct ListItems<'a>(&'a mut Sink);

impl<'de> DeserializeSeed<'de> for ListItems<'_> {
    type Value = Items;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Items, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListItems<'_> {
    type Value = Items;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
        let mut waiting = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            if has_kind(&item) {
                self.0.read_object(item);
            } else {
                waiting.push((self.0.reserve_index(), item));
            }
        }
        Ok(Items::Array(waiting))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Items, E> {
        Ok(Items::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Items, E> {
        Ok(Items::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Items, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(Items::NotArray)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Items, E> {
        Ok(Items::NotArray)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Items, E> {
        Ok(Items::NotArray)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Items, E> {
        Ok(Items::NotArray)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Items, E> {
        Ok(Items::NotArray)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Items, E> {
        Ok(Items::NotArray)
    }
}
