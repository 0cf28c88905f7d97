//! OTLP `AnyValue`s as JSON values, and the coercions that fit promoted attributes into
//! their columns. Mirrors the Python decoder's attribute values and the coercions of
//! `ingest/decoding_rules.py`; the differential tests hold the two to the same output byte
//! for byte.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::{Map, Value};

use crate::layout::{Redaction, Rule};

/// An AnyValue as JSON (bytes become base64, as in OTLP JSON; an empty value is null).
/// Credential headers in nested key-value lists are redacted.
pub fn any_value_to_json(value: Option<&AnyValue>, redaction: &Redaction) -> Value {
    let Some(inner) = value.and_then(|value| value.value.as_ref()) else {
        return Value::Null;
    };
    match inner {
        any_value::Value::StringValue(text) => Value::String(text.clone()),
        any_value::Value::BoolValue(flag) => Value::Bool(*flag),
        any_value::Value::IntValue(number) => Value::from(*number),
        // NaN and infinities have no JSON form: null, as orjson writes them.
        any_value::Value::DoubleValue(number) => Value::from(*number),
        any_value::Value::ArrayValue(array) => Value::Array(
            array
                .values
                .iter()
                .map(|item| any_value_to_json(Some(item), redaction))
                .collect(),
        ),
        any_value::Value::KvlistValue(list) => {
            Value::Object(key_values_to_map(&list.values, redaction))
        }
        any_value::Value::BytesValue(raw) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(raw))
        }
        // A profiles-only field; traces do not use the string table.
        any_value::Value::StringValueStrindex(_) => Value::Null,
    }
}

/// One attribute's value as JSON, at any depth: a captured credential header keeps its key
/// and loses its value; a URL attribute, or a captured URL-valued header (`Referer`,
/// `Location`), keeps its URLs with their credential query parameters redacted.
pub fn attribute_value(key_value: &KeyValue, redaction: &Redaction) -> Value {
    let rule = redaction.rule(&key_value.key);
    if rule == Rule::Credential {
        return Value::String(redaction.redacted.clone());
    }
    let mut value = any_value_to_json(key_value.value.as_ref(), redaction);
    match (rule, &mut value) {
        (Rule::Query, Value::String(query)) => replace(query, redaction.redact_query(query)),
        (Rule::Url, Value::String(url)) => replace(url, redaction.redact_url(url)),
        (Rule::HeaderUrls, Value::String(url)) => replace(url, redaction.redact_url(url)),
        (Rule::HeaderUrls, Value::Array(items)) => {
            for item in items {
                if let Value::String(url) = item {
                    replace(url, redaction.redact_url(url));
                }
            }
        }
        _ => {}
    }
    value
}

fn replace(text: &mut String, redacted: Option<String>) {
    if let Some(redacted) = redacted {
        *text = redacted;
    }
}

/// Attributes as a JSON object (a repeated key keeps its first place and its last value).
pub fn key_values_to_map(key_values: &[KeyValue], redaction: &Redaction) -> Map<String, Value> {
    let mut map = Map::with_capacity(key_values.len());
    for key_value in key_values {
        map.insert(key_value.key.clone(), attribute_value(key_value, redaction));
    }
    map
}

/// A promoted value as text: strings as they are, anything else as its JSON.
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// An HTTP status code, or None when the value is not a whole number that fits USMALLINT.
pub fn as_status(value: &Value) -> Option<u16> {
    match value {
        Value::Number(number) => {
            if let Some(whole) = number.as_i64() {
                return u16::try_from(whole).ok();
            }
            let float = number.as_f64()?;
            (float.fract() == 0.0 && (0.0..=65535.0).contains(&float)).then_some(float as u16)
        }
        Value::String(text) => {
            let digits = text.trim_matches(&[' ', '\t', '\n', '\r', '\x0b', '\x0c'][..]);
            if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            digits
                .parse::<u32>()
                .ok()
                .and_then(|status| u16::try_from(status).ok())
        }
        _ => None,
    }
}

/// The path part of `url.path` / `http.target` (a query may hold secrets).
pub fn as_path(value: &Value) -> Option<String> {
    as_text(value).map(|text| match text.split_once('?') {
        Some((path, _)) => path.to_owned(),
        None => text,
    })
}

/// Sort object keys at every level (the canonical form a resource is hashed in).
pub fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}
