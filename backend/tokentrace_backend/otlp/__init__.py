"""OTLP/HTTP ingest: the receiver app and the decoding of export requests into columns."""

from __future__ import annotations

from tokentrace_backend.otlp.decode_pool import DecodePool
from tokentrace_backend.otlp.decoders import DecoderChoice, choose_decoder
from tokentrace_backend.otlp.receiver import TRACES_PATH, TraceReceiver, create_otlp_app
from tokentrace_backend.otlp.span_columns import DecodedSpans, decode_spans

__all__ = [
    "TRACES_PATH",
    "DecodePool",
    "DecodedSpans",
    "DecoderChoice",
    "TraceReceiver",
    "choose_decoder",
    "create_otlp_app",
    "decode_spans",
]
