//! Span attributes, decoded once per distinct encoding within a request.
//!
//! Real traffic repeats the same method, route, token id and user agent span after span, so
//! each distinct `KeyValue` encoding is decoded with the generated class once, routed to its
//! column (coerced) or pre-serialised as a `"key":value` JSON member, and then only looked
//! up by its bytes. This mirrors the decode-once caches of the Python decoder
//! (`ingest/python_decoder.py`).

use std::collections::HashMap;

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use serde_json::Value;

use crate::layout::{Fit, Layout};
use crate::values::{as_path, as_status, as_text, attribute_value};

/// A promoted value, already fitted to its column.
#[derive(Clone)]
pub enum Promoted {
    Text(String),
    Status(u16),
}

pub enum Attribute {
    /// Goes to `column`; `value` is None when it does not fit (or is empty).
    Promoted {
        column: usize,
        primary: bool,
        value: Option<Promoted>,
    },
    /// Stays in the attributes JSON: its key's id (dense, one per distinct key of the
    /// request, so a span's repeated keys are found by index, not by comparing strings),
    /// and its `"key":value` member.
    Extra { key_id: usize, member: String },
}

#[derive(Default)]
pub struct AttributeCache {
    index: HashMap<Bytes, usize, foldhash::fast::RandomState>,
    entries: Vec<Attribute>,
    key_ids: HashMap<String, usize, foldhash::fast::RandomState>,
}

impl AttributeCache {
    /// The entry id of one encoded attribute; Err when it is not a valid KeyValue.
    pub fn entry_id(&mut self, layout: &Layout, raw: &Bytes) -> Result<usize, String> {
        if let Some(id) = self.index.get(raw) {
            return Ok(*id);
        }
        let key_value =
            KeyValue::decode(raw.clone()).map_err(|_| "an attribute is not a valid KeyValue")?;
        let entry = self.attribute(layout, key_value);
        self.entries.push(entry);
        let id = self.entries.len() - 1;
        self.index.insert(raw.clone(), id);
        Ok(id)
    }

    pub fn get(&self, id: usize) -> &Attribute {
        &self.entries[id]
    }

    fn key_id(&mut self, key: String) -> usize {
        let next = self.key_ids.len();
        *self.key_ids.entry(key).or_insert(next)
    }

    fn attribute(&mut self, layout: &Layout, key_value: KeyValue) -> Attribute {
        let value = attribute_value(&key_value, &layout.redaction);
        if let Some(promotion) = layout.promoted.get(key_value.key.as_str()) {
            let value = match promotion.fit {
                Fit::Text => as_text(&value).map(Promoted::Text),
                Fit::Path => as_path(&value).map(Promoted::Text),
                Fit::Status => as_status(&value).map(Promoted::Status),
            };
            return Attribute::Promoted {
                column: promotion.column,
                primary: promotion.primary,
                value,
            };
        }
        let mut member = Value::String(key_value.key.clone()).to_string();
        member.push(':');
        member.push_str(&value.to_string());
        Attribute::Extra {
            key_id: self.key_id(key_value.key),
            member,
        }
    }
}
