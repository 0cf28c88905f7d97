"""Ingest: OTLP/HTTP in, decoded rows out to the writer.

Owns ``POST /v1/traces`` (``receiver``: admission, backpressure, acknowledgement after the
commit; ``counters``: the requests it dropped, for ``/metrics``), the OTLP/HTTP protocol
(``protocol``: media types, gzip, size limits, the bearer key, answers), the refusals and
their status codes (``errors``), what is kept of client addresses (``client_addresses``,
``--client-ip``), and decoding: which decoder runs where (``decoding``), the rules both
decoders apply (``decoding_rules``; ``token_ids``, applied to either decoder's table), the
Python decoder (``python_decoder`` over the ``wire_view``), the compiled one
(``native_decoder``, from ``native/``) and OTLP JSON (``json_decoder``).

It hands rows to :class:`tokentrace_backend.storage.writer.SpanWriter` and never touches
DuckDB itself, nor the derived tables or the API.
"""

from __future__ import annotations

from tokentrace_backend.ingest.decoding import DecodePool, DecoderChoice, choose_decoder
from tokentrace_backend.ingest.python_decoder import decode_spans
from tokentrace_backend.ingest.receiver import TRACES_PATH, TraceReceiver, create_otlp_app

__all__ = [
    "TRACES_PATH",
    "DecodePool",
    "DecoderChoice",
    "TraceReceiver",
    "choose_decoder",
    "create_otlp_app",
    "decode_spans",
]
