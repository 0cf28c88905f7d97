//! A wire-compatible *view* of `ExportTraceServiceRequest`, the Rust twin of the Python
//! backend's `wire_view`.
//!
//! Field numbers and wire types are those of `opentelemetry.proto`; the difference is that
//! a span's attributes, events and status, and a resource, are declared as `bytes`. Each of
//! those parts is then decoded on its own with the generated `opentelemetry-proto` classes,
//! so one undecodable attribute rejects its span instead of the whole request, exactly as
//! the Python decoder does. Fields the backend does not store are not declared; prost skips
//! them.
//!
//! The repeated messages (resource spans, scope spans, spans) are `bytes` too, decoded one
//! at a time as the decoder reaches them: decoded all at once, an empty span (2 bytes on
//! the wire) became a 220-byte struct, and a 16 MiB body gigabytes. A `Bytes` is 32.
//! One consequence: prost counts its recursion limit (100 nested messages) from the part
//! it decodes, upb from the top of the request. Unknown groups nested 98-100 deep inside a
//! span (no exporter writes them) are therefore accepted here and refused by the Python
//! decoder; both outcomes are safe, and a test pins the difference down. A first pass that
//! counted depth from the top cost 0.8 us per span, as much as the rest of decoding.

use bytes::Bytes;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportRequestView {
    /// ResourceSpansView
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub resource_spans: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpansView {
    /// opentelemetry.proto.resource.v1.Resource
    #[prost(bytes = "bytes", tag = "1")]
    pub resource: Bytes,
    /// ScopeSpansView
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub scope_spans: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpansView {
    /// SpanView
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub spans: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanView {
    #[prost(bytes = "bytes", tag = "1")]
    pub trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub span_id: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub parent_span_id: Bytes,
    #[prost(string, tag = "5")]
    pub name: String,
    /// An enum on the wire is a varint; proto3 enums accept any int32.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// opentelemetry.proto.common.v1.KeyValue
    #[prost(bytes = "bytes", repeated, tag = "9")]
    pub attributes: Vec<Bytes>,
    /// opentelemetry.proto.trace.v1.Span.Event
    #[prost(bytes = "bytes", repeated, tag = "11")]
    pub events: Vec<Bytes>,
    /// opentelemetry.proto.trace.v1.Status
    #[prost(bytes = "bytes", tag = "15")]
    pub status: Bytes,
}
