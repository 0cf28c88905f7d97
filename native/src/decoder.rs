//! Export request bytes → `spans` columns and `resources` rows.
//!
//! The same rules as the Python decoder (`span_columns`, `part_cache`): the request is read
//! through the wire view; each attribute, status, event and resource is decoded with the
//! generated `opentelemetry-proto` classes; spans that cannot be stored are counted as
//! rejected with the reason of the first one, and the rest are kept.

use std::collections::HashMap;

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::Event, Status};
use prost::Message;
use serde_json::{Map, Value};

use crate::columns::{NumberColumn, TextColumn};
use crate::layout::{Fit, Layout};
use crate::values::{any_value_to_json, as_path, as_status, as_text, key_values_to_map, sort_keys};
use crate::view::{ExportRequestView, SpanView};

const MAX_SPAN_KIND: i32 = 5;
const MAX_STATUS_CODE: i32 = 2;
const UNKNOWN_SERVICE: &str = "unknown_service";

/// One `resources` row: id, service name, service version, attributes JSON.
pub struct ResourceRow {
    pub id: u64,
    pub service_name: String,
    pub service_version: Option<String>,
    pub attributes: String,
}

/// A column of the `spans` table as built.
pub enum Column {
    Text(TextColumn),
    U8(NumberColumn<u8>),
    U16(NumberColumn<u16>),
    U64(NumberColumn<u64>),
    I64(NumberColumn<i64>),
}

pub struct Decoded {
    pub rows: usize,
    pub columns: Vec<Column>,
    pub resources: Vec<ResourceRow>,
    pub rejected: usize,
    pub first_error: String,
}

/// The request as a whole is not an export request (HTTP 400).
pub struct Malformed(pub String);

enum Promoted {
    Text(String),
    Status(u16),
}

/// One span, checked and converted, before it is appended to the columns.
struct Row {
    trace_id: Bytes,
    span_id: u64,
    parent_span_id: Option<u64>,
    name: String,
    kind: u8,
    start_ns: i64,
    duration_ns: i64,
    status_code: u8,
    status_message: Option<String>,
    promoted: Vec<Option<Promoted>>,
    attributes: Option<String>,
    events: Option<String>,
}

pub fn decode(layout: &Layout, body: &[u8]) -> Result<Decoded, Malformed> {
    let request = ExportRequestView::decode(Bytes::copy_from_slice(body)).map_err(|error| {
        Malformed(format!(
            "invalid protobuf ExportTraceServiceRequest: {error}"
        ))
    })?;
    let capacity: usize = request
        .resource_spans
        .iter()
        .flat_map(|resource_spans| &resource_spans.scope_spans)
        .map(|scope_spans| scope_spans.spans.len())
        .sum();
    let mut builder = ColumnsBuilder::new(layout, capacity);
    let mut resources: Vec<ResourceRow> = Vec::new();
    let mut resource_index: HashMap<Bytes, usize> = HashMap::new();
    let mut rejected = 0;
    let mut first_error = String::new();
    let mut span_number = 0usize;
    for resource_spans in &request.resource_spans {
        let index = match resource_index.get(&resource_spans.resource) {
            Some(index) => *index,
            None => {
                let row = resource_row(&resource_spans.resource)?;
                let index = match resources.iter().position(|known| known.id == row.id) {
                    Some(index) => index,
                    None => {
                        resources.push(row);
                        resources.len() - 1
                    }
                };
                resource_index.insert(resource_spans.resource.clone(), index);
                index
            }
        };
        let resource = &resources[index];
        for span in resource_spans
            .scope_spans
            .iter()
            .flat_map(|scope| &scope.spans)
        {
            match span_row(layout, span) {
                Ok(row) => builder.push(layout, row, resource),
                Err(problem) => {
                    rejected += 1;
                    if first_error.is_empty() {
                        first_error = format!("span #{span_number}: {problem}");
                    }
                }
            }
            span_number += 1;
        }
    }
    Ok(Decoded {
        rows: builder.rows,
        columns: builder.columns,
        resources,
        rejected,
        first_error,
    })
}

fn resource_row(raw: &Bytes) -> Result<ResourceRow, Malformed> {
    let resource = Resource::decode(raw.clone())
        .map_err(|_| Malformed("a resource is not a valid Resource".to_owned()))?;
    let attributes = key_values_to_map(&resource.attributes);
    let service_name = match attributes.get("service.name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ => UNKNOWN_SERVICE.to_owned(),
    };
    let service_version = attributes.get("service.version").and_then(as_text);
    let mut canonical = Value::Object(attributes);
    sort_keys(&mut canonical);
    let text = canonical.to_string();
    let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b digest size");
    hasher.update(text.as_bytes());
    let mut digest = [0u8; 8];
    hasher
        .finalize_variable(&mut digest)
        .expect("the digest buffer has the declared size");
    Ok(ResourceRow {
        id: u64::from_be_bytes(digest),
        service_name,
        service_version,
        attributes: text,
    })
}

/// Why a span cannot be stored, in the words of the Python decoder.
fn span_problem(span: &SpanView, status_code: i32) -> Option<String> {
    let (trace_id, span_id, parent) = (&span.trace_id, &span.span_id, &span.parent_span_id);
    if trace_id.len() != 16 {
        return Some(format!("trace_id must be 16 bytes, got {}", trace_id.len()));
    }
    if trace_id.iter().all(|byte| *byte == 0) {
        return Some("trace_id must not be all zero".to_owned());
    }
    if span_id.len() != 8 {
        return Some(format!("span_id must be 8 bytes, got {}", span_id.len()));
    }
    if span_id.iter().all(|byte| *byte == 0) {
        return Some("span_id must not be all zero".to_owned());
    }
    if !parent.is_empty() && parent.len() != 8 {
        return Some(format!(
            "parent_span_id must be empty or 8 bytes, got {}",
            parent.len()
        ));
    }
    if !(0..=MAX_SPAN_KIND).contains(&span.kind) {
        return Some(format!("unknown span kind {}", span.kind));
    }
    if !(0..=MAX_STATUS_CODE).contains(&status_code) {
        return Some(format!("unknown status code {status_code}"));
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Some("end_time_unix_nano is before start_time_unix_nano".to_owned());
    }
    if span.end_time_unix_nano > i64::MAX as u64 {
        return Some("times after 2262 do not fit the stored int64 nanoseconds".to_owned());
    }
    None
}

fn id_number(id: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(id);
    u64::from_be_bytes(bytes)
}

fn span_row(layout: &Layout, span: &SpanView) -> Result<Row, String> {
    let status = Status::decode(span.status.clone())
        .map_err(|_| "the status is not a valid Status".to_owned())?;
    if let Some(problem) = span_problem(span, status.code) {
        return Err(problem);
    }
    let mut promoted: Vec<Option<Promoted>> = Vec::new();
    promoted.resize_with(layout.width, || None);
    let mut extra: Option<Map<String, Value>> = None;
    for raw in &span.attributes {
        let key_value = KeyValue::decode(raw.clone())
            .map_err(|_| "an attribute is not a valid KeyValue".to_owned())?;
        let value = any_value_to_json(key_value.value.as_ref());
        match layout.promoted.get(key_value.key.as_str()) {
            Some(promotion) => {
                let slot = &mut promoted[promotion.column];
                if promotion.primary || slot.is_none() {
                    *slot = match promotion.fit {
                        Fit::Text => as_text(&value).map(Promoted::Text),
                        Fit::Path => as_path(&value).map(Promoted::Text),
                        Fit::Status => as_status(&value).map(Promoted::Status),
                    };
                }
            }
            None => {
                let value = if layout.is_credential(&key_value.key) {
                    Value::String(layout.redacted.clone())
                } else {
                    value
                };
                extra
                    .get_or_insert_with(Map::new)
                    .insert(key_value.key, value);
            }
        }
    }
    let events = if span.events.is_empty() {
        None
    } else {
        Some(events_json(layout, &span.events, &mut promoted)?)
    };
    let start_ns = span.start_time_unix_nano as i64; // end <= i64::MAX, and start <= end
    Ok(Row {
        trace_id: span.trace_id.clone(),
        span_id: id_number(&span.span_id),
        parent_span_id: (!span.parent_span_id.is_empty()).then(|| id_number(&span.parent_span_id)),
        name: span.name.clone(),
        kind: span.kind as u8,
        start_ns,
        duration_ns: span.end_time_unix_nano as i64 - start_ns,
        status_code: status.code as u8,
        status_message: (!status.message.is_empty()).then_some(status.message),
        promoted,
        attributes: extra.map(|map| Value::Object(map).to_string()),
        events,
    })
}

/// The span's events as JSON; the first exception event also fills the error columns.
fn events_json(
    layout: &Layout,
    events: &[Bytes],
    promoted: &mut [Option<Promoted>],
) -> Result<String, String> {
    let mut exception_seen = false;
    let mut as_json: Vec<Value> = Vec::with_capacity(events.len());
    for raw in events {
        let event = Event::decode(raw.clone())
            .map_err(|_| "an event is not a valid Span.Event".to_owned())?;
        let attributes = key_values_to_map(&event.attributes);
        if event.name == "exception" && !exception_seen {
            exception_seen = true;
            if let Some(kind) = attributes.get("exception.type").and_then(as_text) {
                promoted[layout.structural.error_type] = Some(Promoted::Text(kind));
            }
            promoted[layout.structural.error_message] = attributes
                .get("exception.message")
                .and_then(as_text)
                .map(Promoted::Text);
        }
        let mut object = Map::with_capacity(3);
        object.insert("name".to_owned(), Value::String(event.name));
        object.insert("time_ns".to_owned(), Value::from(event.time_unix_nano));
        object.insert("attributes".to_owned(), Value::Object(attributes));
        as_json.push(Value::Object(object));
    }
    Ok(Value::Array(as_json).to_string())
}

struct ColumnsBuilder {
    rows: usize,
    columns: Vec<Column>,
}

impl ColumnsBuilder {
    fn new(layout: &Layout, capacity: usize) -> Self {
        let at = &layout.structural;
        let columns = (0..layout.width)
            .map(|index| {
                if index == at.span_id || index == at.parent_span_id || index == at.resource_id {
                    Column::U64(NumberColumn::with_capacity(capacity))
                } else if index == at.kind || index == at.status_code {
                    Column::U8(NumberColumn::with_capacity(capacity))
                } else if index == at.start_ns || index == at.duration_ns {
                    Column::I64(NumberColumn::with_capacity(capacity))
                } else if layout.promoted_columns.contains(&(index, Fit::Status)) {
                    Column::U16(NumberColumn::with_capacity(capacity))
                } else {
                    Column::Text(TextColumn::with_capacity(capacity))
                }
            })
            .collect();
        Self { rows: 0, columns }
    }

    fn push(&mut self, layout: &Layout, row: Row, resource: &ResourceRow) {
        let at = &layout.structural;
        let Row {
            trace_id,
            mut promoted,
            ..
        } = row;
        // Structural values go into the promoted slots too, so that one loop appends them.
        for (index, column) in self.columns.iter_mut().enumerate() {
            match column {
                Column::Text(text) => {
                    let value: Option<&[u8]> = if index == at.trace_id {
                        Some(&trace_id)
                    } else if index == at.name {
                        Some(row.name.as_bytes())
                    } else if index == at.service_name {
                        Some(resource.service_name.as_bytes())
                    } else if index == at.service_version {
                        resource.service_version.as_deref().map(str::as_bytes)
                    } else if index == at.status_message {
                        row.status_message.as_deref().map(str::as_bytes)
                    } else if index == at.attributes {
                        row.attributes.as_deref().map(str::as_bytes)
                    } else if index == at.events {
                        row.events.as_deref().map(str::as_bytes)
                    } else {
                        match &promoted[index] {
                            Some(Promoted::Text(value)) => Some(value.as_bytes()),
                            _ => None,
                        }
                    };
                    text.push(value);
                }
                Column::U8(numbers) => numbers.push(Some(if index == at.kind {
                    row.kind
                } else {
                    row.status_code
                })),
                Column::U16(numbers) => numbers.push(match promoted[index].take() {
                    Some(Promoted::Status(status)) => Some(status),
                    _ => None,
                }),
                Column::U64(numbers) => numbers.push(if index == at.span_id {
                    Some(row.span_id)
                } else if index == at.parent_span_id {
                    row.parent_span_id
                } else {
                    Some(resource.id)
                }),
                Column::I64(numbers) => numbers.push(Some(if index == at.start_ns {
                    row.start_ns
                } else {
                    row.duration_ns
                })),
            }
        }
        self.rows += 1;
    }
}
