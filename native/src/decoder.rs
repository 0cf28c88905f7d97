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
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::Event, Status};
use prost::Message;
use serde_json::Value;

use crate::attributes::{Attribute, AttributeCache, Promoted};
use crate::columns::{NumberColumn, TextColumn};
use crate::layout::{ColumnType, Layout, Redaction};
use crate::values::{as_text, key_values_to_map, sort_keys};
use crate::view::{ExportRequestView, RequestNesting, ResourceSpansView, ScopeSpansView, SpanView};

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

impl ResourceRow {
    /// Bytes of this resource that every span row of it repeats.
    fn repeated_bytes(&self) -> usize {
        self.service_name.len() + self.service_version.as_ref().map_or(0, String::len)
    }
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

pub fn decode(layout: &Layout, body: &[u8]) -> Result<Decoded, Malformed> {
    let body = Bytes::copy_from_slice(body);
    RequestNesting::decode(body.clone()).map_err(malformed)?;
    let request = ExportRequestView::decode(body).map_err(malformed)?;
    let mut builder = ColumnsBuilder::new(layout);
    let mut resources: Vec<ResourceRow> = Vec::new();
    // Resource bytes → row, and resource id → row (different encodings of one resource
    // share its row). Hash maps both: a request may hold hundreds of thousands of them.
    let mut resource_index: HashMap<Bytes, usize> = HashMap::new();
    let mut resource_rows: HashMap<u64, usize> = HashMap::new();
    let mut rejected = 0;
    let mut first_error = String::new();
    let mut span_number = 0usize;
    let mut repeated_resource_bytes = 0usize;
    let mut cache = AttributeCache::default();
    let mut parts = RowParts::new(layout.width);
    for raw_resource_spans in &request.resource_spans {
        let resource_spans =
            ResourceSpansView::decode(raw_resource_spans.clone()).map_err(malformed)?;
        let index = match resource_index.get(&resource_spans.resource) {
            Some(index) => *index,
            None => {
                let row = resource_row(&resource_spans.resource, &layout.redaction)?;
                let index = *resource_rows.entry(row.id).or_insert(resources.len());
                if index == resources.len() {
                    resources.push(row);
                }
                resource_index.insert(resource_spans.resource.clone(), index);
                index
            }
        };
        let resource = &resources[index];
        // Counted first (each scope decoded twice, cheap) so that the limit below holds
        // before any row is built, without keeping every scope's span list at once.
        let mut spans = 0usize;
        for raw_scope_spans in &resource_spans.scope_spans {
            spans += ScopeSpansView::decode(raw_scope_spans.clone())
                .map_err(malformed)?
                .spans
                .len();
        }
        repeated_resource_bytes += spans * resource.repeated_bytes();
        if repeated_resource_bytes > layout.max_repeated_resource_bytes {
            return Err(Malformed(format!(
                "the service names and versions of this request would fill {repeated_resource_bytes} \
                 bytes of rows (limit {}): send fewer spans per request or shorter names",
                layout.max_repeated_resource_bytes
            )));
        }
        builder.reserve(spans);
        for raw_scope_spans in &resource_spans.scope_spans {
            let scope_spans = ScopeSpansView::decode(raw_scope_spans.clone()).map_err(malformed)?;
            for raw_span in &scope_spans.spans {
                let span = SpanView::decode(raw_span.clone()).map_err(malformed)?;
                match span_row(layout, &span, &mut cache, &mut parts) {
                    Ok(row) => builder.push(layout, &row, &parts, &cache, resource),
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
    }
    Ok(Decoded {
        rows: builder.rows,
        columns: builder.columns,
        resources,
        rejected,
        first_error,
    })
}

fn malformed(error: prost::DecodeError) -> Malformed {
    Malformed(format!(
        "invalid protobuf ExportTraceServiceRequest: {error}"
    ))
}

fn resource_row(raw: &Bytes, redaction: &Redaction) -> Result<ResourceRow, Malformed> {
    let resource = Resource::decode(raw.clone())
        .map_err(|_| Malformed("a resource is not a valid Resource".to_owned()))?;
    let attributes = key_values_to_map(&resource.attributes, redaction);
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

/// What a promoted column of the current span holds.
enum Slot {
    Empty,
    /// An `Attribute::Promoted` of the cache, with a value.
    Cached(usize),
    /// A value of the span's own (the first exception event's type and message).
    Owned(Promoted),
}

/// The parts of one span that vary in size, reused from span to span.
struct RowParts {
    slots: Vec<Slot>,
    /// Entry ids of the `Extra` attributes, one per key (a repeated key keeps its first
    /// place and its last value, like a Python dict).
    extras: Vec<usize>,
    /// Per key id: the stamp of the span that last used the key, and its place in
    /// `extras`. Finding a repeated key must not scan the span's keys so far: a span may
    /// carry hundreds of thousands of attributes. Stamps spare clearing it per span.
    extra_places: Vec<(u64, usize)>,
    stamp: u64,
    attributes: String,
    events: Option<String>,
}

impl RowParts {
    fn new(width: usize) -> Self {
        let mut slots = Vec::with_capacity(width);
        slots.resize_with(width, || Slot::Empty);
        Self {
            slots,
            extras: Vec::new(),
            extra_places: Vec::new(),
            stamp: 1,
            attributes: String::new(),
            events: None,
        }
    }

    fn clear(&mut self) {
        self.slots.iter_mut().for_each(|slot| *slot = Slot::Empty);
        self.extras.clear();
        self.stamp += 1;
        self.attributes.clear();
        self.events = None;
    }

    /// Add the `Extra` attribute `entry` (of key `key_id`) to the span's JSON members.
    fn add_extra(&mut self, key_id: usize, entry: usize) {
        if key_id >= self.extra_places.len() {
            self.extra_places.resize(key_id + 1, (0, 0));
        }
        let (stamp, place) = &mut self.extra_places[key_id];
        if *stamp == self.stamp {
            self.extras[*place] = entry;
        } else {
            (*stamp, *place) = (self.stamp, self.extras.len());
            self.extras.push(entry);
        }
    }

    fn promoted<'a>(&'a self, cache: &'a AttributeCache, column: usize) -> Option<&'a Promoted> {
        match &self.slots[column] {
            Slot::Empty => None,
            Slot::Owned(value) => Some(value),
            Slot::Cached(id) => match cache.get(*id) {
                Attribute::Promoted { value, .. } => value.as_ref(),
                Attribute::Extra { .. } => None,
            },
        }
    }
}

/// The fixed-size values of one checked span.
struct Row<'a> {
    span: &'a SpanView,
    kind: u8,
    start_ns: i64,
    duration_ns: i64,
    status_code: u8,
    status_message: Option<String>,
}

fn span_row<'a>(
    layout: &Layout,
    span: &'a SpanView,
    cache: &mut AttributeCache,
    parts: &mut RowParts,
) -> Result<Row<'a>, String> {
    let status = Status::decode(span.status.clone())
        .map_err(|_| "the status is not a valid Status".to_owned())?;
    if let Some(problem) = span_problem(span, status.code) {
        return Err(problem);
    }
    parts.clear();
    for raw in &span.attributes {
        let id = cache.entry_id(layout, raw)?;
        match cache.get(id) {
            Attribute::Promoted {
                column,
                primary,
                value,
            } => {
                let slot = &mut parts.slots[*column];
                if *primary || matches!(slot, Slot::Empty) {
                    *slot = if value.is_some() {
                        Slot::Cached(id)
                    } else {
                        Slot::Empty
                    };
                }
            }
            Attribute::Extra { key_id, .. } => parts.add_extra(*key_id, id),
        }
    }
    if !parts.extras.is_empty() {
        parts.attributes.push('{');
        for (position, id) in parts.extras.iter().enumerate() {
            if position > 0 {
                parts.attributes.push(',');
            }
            if let Attribute::Extra { member, .. } = cache.get(*id) {
                parts.attributes.push_str(member);
            }
        }
        parts.attributes.push('}');
    }
    if !span.events.is_empty() {
        parts.events = Some(events_json(layout, &span.events, &mut parts.slots)?);
    }
    let start_ns = span.start_time_unix_nano as i64; // end <= i64::MAX, and start <= end
    Ok(Row {
        span,
        kind: span.kind as u8,
        start_ns,
        duration_ns: span.end_time_unix_nano as i64 - start_ns,
        status_code: status.code as u8,
        status_message: (!status.message.is_empty()).then_some(status.message),
    })
}

/// The span's events as JSON; the first exception event also fills the error columns.
///
/// Written event by event: a JSON value tree of all the events first would cost hundreds
/// of bytes per event, and a small body can hold millions of empty ones.
fn events_json(layout: &Layout, events: &[Bytes], slots: &mut [Slot]) -> Result<String, String> {
    let mut exception_seen = false;
    let mut json = String::from("[");
    for (position, raw) in events.iter().enumerate() {
        let event = Event::decode(raw.clone())
            .map_err(|_| "an event is not a valid Span.Event".to_owned())?;
        let attributes = key_values_to_map(&event.attributes, &layout.redaction);
        if event.name == "exception" && !exception_seen {
            exception_seen = true;
            if let Some(kind) = attributes.get("exception.type").and_then(as_text) {
                slots[layout.structural.error_type] = Slot::Owned(Promoted::Text(kind));
            }
            slots[layout.structural.error_message] =
                match attributes.get("exception.message").and_then(as_text) {
                    Some(message) => Slot::Owned(Promoted::Text(message)),
                    None => Slot::Empty,
                };
        }
        if position > 0 {
            json.push(',');
        }
        json.push_str("{\"name\":");
        json.push_str(&Value::String(event.name).to_string());
        json.push_str(",\"time_ns\":");
        json.push_str(&event.time_unix_nano.to_string());
        json.push_str(",\"attributes\":");
        json.push_str(&Value::Object(attributes).to_string());
        json.push('}');
    }
    json.push(']');
    Ok(json)
}

struct ColumnsBuilder {
    rows: usize,
    columns: Vec<Column>,
}

impl ColumnsBuilder {
    fn new(layout: &Layout) -> Self {
        let columns = layout
            .types
            .iter()
            .map(|column_type| match column_type {
                ColumnType::Binary | ColumnType::Text => Column::Text(TextColumn::new()),
                ColumnType::U8 => Column::U8(NumberColumn::new()),
                ColumnType::U16 => Column::U16(NumberColumn::new()),
                ColumnType::U64 => Column::U64(NumberColumn::new()),
                ColumnType::I64 => Column::I64(NumberColumn::new()),
            })
            .collect();
        Self { rows: 0, columns }
    }

    /// Room for `rows` more rows in every column.
    fn reserve(&mut self, rows: usize) {
        for column in &mut self.columns {
            match column {
                Column::Text(text) => text.reserve(rows),
                Column::U8(numbers) => numbers.reserve(rows),
                Column::U16(numbers) => numbers.reserve(rows),
                Column::U64(numbers) => numbers.reserve(rows),
                Column::I64(numbers) => numbers.reserve(rows),
            }
        }
    }

    fn push(
        &mut self,
        layout: &Layout,
        row: &Row<'_>,
        parts: &RowParts,
        cache: &AttributeCache,
        resource: &ResourceRow,
    ) {
        let at = &layout.structural;
        let span = row.span;
        for (index, column) in self.columns.iter_mut().enumerate() {
            match column {
                Column::Text(text) => {
                    let value: Option<&[u8]> = if index == at.trace_id {
                        Some(&span.trace_id)
                    } else if index == at.name {
                        Some(span.name.as_bytes())
                    } else if index == at.service_name {
                        Some(resource.service_name.as_bytes())
                    } else if index == at.service_version {
                        resource.service_version.as_deref().map(str::as_bytes)
                    } else if index == at.status_message {
                        row.status_message.as_deref().map(str::as_bytes)
                    } else if index == at.attributes {
                        (!parts.attributes.is_empty()).then_some(parts.attributes.as_bytes())
                    } else if index == at.events {
                        parts.events.as_deref().map(str::as_bytes)
                    } else {
                        match parts.promoted(cache, index) {
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
                Column::U16(numbers) => numbers.push(match parts.promoted(cache, index) {
                    Some(Promoted::Status(status)) => Some(*status),
                    _ => None,
                }),
                Column::U64(numbers) => numbers.push(if index == at.span_id {
                    Some(id_number(&span.span_id))
                } else if index == at.parent_span_id {
                    (!span.parent_span_id.is_empty()).then(|| id_number(&span.parent_span_id))
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
