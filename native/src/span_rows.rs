//! One span → the values of its row: validation (the Python decoder's reasons), promoted
//! attributes, the attributes and events JSON, and the error columns.

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::{span::Event, Status};
use prost::Message;
use serde_json::Value;

use crate::attributes::{Attribute, AttributeCache, Promoted};
use crate::layout::Layout;
use crate::values::{as_text, key_values_to_map};
use crate::view::SpanView;

const MAX_SPAN_KIND: i32 = 5;
const MAX_STATUS_CODE: i32 = 2;

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

/// What a promoted column of the current span holds.
enum Slot {
    Empty,
    /// An `Attribute::Promoted` of the cache, with a value.
    Cached(usize),
    /// A value of the span's own (the first exception event's type and message).
    Owned(Promoted),
}

/// The parts of one span that vary in size, reused from span to span.
pub struct RowParts {
    slots: Vec<Slot>,
    /// Entry ids of the `Extra` attributes, one per key (a repeated key keeps its first
    /// place and its last value, like a Python dict).
    extras: Vec<usize>,
    /// Per key id: the stamp of the span that last used the key, and its place in
    /// `extras`. Finding a repeated key must not scan the span's keys so far: a span may
    /// carry hundreds of thousands of attributes. Stamps spare clearing it per span.
    extra_places: Vec<(u64, usize)>,
    stamp: u64,
    pub attributes: String,
    pub events: Option<String>,
}

impl RowParts {
    pub fn new(width: usize) -> Self {
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

    pub fn promoted<'a>(
        &'a self,
        cache: &'a AttributeCache,
        column: usize,
    ) -> Option<&'a Promoted> {
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
pub struct Row<'a> {
    pub span: &'a SpanView,
    pub kind: u8,
    pub start_ns: i64,
    pub duration_ns: i64,
    pub status_code: u8,
    pub status_message: Option<String>,
}

pub fn span_row<'a>(
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
