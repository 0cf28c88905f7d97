//! A wire-compatible *view* of `ExportTraceServiceRequest`, the Rust twin of the Python
//! backend's `wire_view`.
//!
//! Field numbers and wire types are those of `opentelemetry.proto`; the difference is that
//! a span's attributes, events and status, and a resource, are declared as `bytes`. Each of
//! those parts is then decoded on its own with the generated `opentelemetry-proto` classes,
//! so one undecodable attribute rejects its span instead of the whole request, exactly as
//! the Python decoder does. Fields the backend does not store are not declared; prost skips
//! them.

use bytes::Bytes;

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportRequestView {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpansView>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpansView {
    /// opentelemetry.proto.resource.v1.Resource
    #[prost(bytes = "bytes", tag = "1")]
    pub resource: Bytes,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpansView>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpansView {
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<SpanView>,
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
