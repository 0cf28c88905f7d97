//! Export request bytes → `spans` columns and `resources` rows.
//!
//! The same rules as the Python decoder (`ingest/python_decoder.py`): the request is read
//! through the wire view; each attribute, status, event and resource is decoded with the
//! generated `opentelemetry-proto` classes; spans that cannot be stored are counted as
//! rejected with the reason of the first one, and the rest are kept.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;

use crate::attributes::{AttributeCache, Promoted};
use crate::columns::{ColumnFull, NumberColumn, TextColumn};
use crate::layout::{ColumnType, Layout};
use crate::resources::{resource_row, ResourceRow};
use crate::span_rows::{span_row, Row, RowParts};
use crate::view::{ExportRequestView, ResourceSpansView, ScopeSpansView, SpanView};

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

/// The wire size of the smallest span that can be stored: a 16-byte trace id and an
/// 8-byte span id with their tags and lengths, and the span's own tag and length.
const MIN_STORABLE_SPAN_BYTES: usize = (2 + 16) + (2 + 8) + 2;

pub fn decode(layout: &Layout, body: &[u8]) -> Result<Decoded, Malformed> {
    // Room is reserved for at most as many rows as the body can hold storable spans: an
    // empty span is 2 bytes, so counting those would reserve 70 bytes of columns per body
    // byte, and a failed allocation aborts the whole server.
    let most_rows = body.len() / MIN_STORABLE_SPAN_BYTES;
    let body = Bytes::copy_from_slice(body);
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
        for raw_scope_spans in &resource_spans.scope_spans {
            let scope_spans = ScopeSpansView::decode(raw_scope_spans.clone()).map_err(malformed)?;
            // Checked before any row of the scope is built.
            repeated_resource_bytes += scope_spans.spans.len() * resource.repeated_bytes();
            if repeated_resource_bytes > layout.max_repeated_resource_bytes {
                return Err(Malformed(format!(
                    "the service names and versions of this request would fill \
                     {repeated_resource_bytes} bytes of rows (limit {}): send fewer spans per \
                     request or shorter names",
                    layout.max_repeated_resource_bytes
                )));
            }
            builder.reserve(
                scope_spans
                    .spans
                    .len()
                    .min(most_rows.saturating_sub(builder.rows)),
            );
            for raw_span in &scope_spans.spans {
                let span = SpanView::decode(raw_span.clone()).map_err(malformed)?;
                match span_row(layout, &span, &mut cache, &mut parts) {
                    Ok(row) => builder.push(layout, &row, &parts, &cache, resource)?,
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

fn id_number(id: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(id);
    u64::from_be_bytes(bytes)
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
    ) -> Result<(), Malformed> {
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
                    text.push(value, layout.max_column_bytes)
                        .map_err(|ColumnFull| {
                            Malformed(format!(
                                "the spans of this request would fill more than {} bytes of \
                             column {:?}: send fewer spans per request",
                                layout.max_column_bytes, layout.names[index]
                            ))
                        })?;
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
        Ok(())
    }
}
