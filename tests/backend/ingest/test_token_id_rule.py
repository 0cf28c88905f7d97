"""The token-id rule (issue #14, item 3): ingest lowercases a ``tokentrace.token.id`` and
rejects (partial success) a span whose id is not 32 hex characters, with both decoders and
both encodings, so that every token ``/api/tokens`` lists can be opened."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from google.protobuf import json_format  # type: ignore[import-untyped]

from tests.backend.ingest.otlp_builders import make_request, make_span
from tests.loopback import serve_asgi
from tokentrace.attributes import AUTH_OUTCOME, TOKEN_ID
from tokentrace_backend.api import create_api_app
from tokentrace_backend.derived import refresh_derived
from tokentrace_backend.ingest.decoding import SpansDecoder, decode_body
from tokentrace_backend.ingest.protocol import Encoding
from tokentrace_backend.ingest.token_ids import TOKEN_ID_PROBLEM, apply_token_id_rule
from tokentrace_backend.storage import Database
from tokentrace_backend.storage.writer import SpanWriter

GOOD = "0123456789abcdef" * 2
UPPER = "ABCDEF0123456789" * 2
MALFORMED = [
    "x' OR 1=1; DROP TABLE spans; --",
    "a" * 10_000,
    "0123456789abcdef0123456789abcde\x00",
    "0123456789abcdef",  # hex, but 16 characters
    GOOD + "0",
    " " + GOOD,
    "\uff10\uff11" + GOOD[2:],  # fullwidth digits
]
TOKEN_IDS = [GOOD, UPPER, *MALFORMED, None]


def request_body(encoding: Encoding) -> bytes:
    spans = [
        make_span(
            attributes={AUTH_OUTCOME: "success", **({TOKEN_ID: token} if token else {})},
        )
        for token in TOKEN_IDS
    ]
    request = make_request(spans)
    if encoding is Encoding.PROTOBUF:
        return request.SerializeToString()
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:  # OTLP JSON ids are hex
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId"):
                    span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


@pytest.mark.parametrize("encoding", list(Encoding))
def test_ids_are_lowercased_and_malformed_ones_rejected(
    spans_decoder: SpansDecoder, encoding: Encoding
) -> None:
    decoded = decode_body(request_body(encoding), encoding, spans_decoder)
    assert decoded.spans.column("token_id").to_pylist() == [GOOD, UPPER.lower(), None]
    assert decoded.rejected_spans == len(MALFORMED)
    assert decoded.error_message == f"span #2: {TOKEN_ID_PROBLEM}"
    assert "DROP" not in decoded.error_message


def test_a_decoder_rejection_keeps_its_reason(spans_decoder: SpansDecoder) -> None:
    spans = [make_span(span_id=b"\x01"), make_span(attributes={TOKEN_ID: "nope"})]
    decoded = decode_body(make_request(spans).SerializeToString(), Encoding.PROTOBUF, spans_decoder)
    assert decoded.rejected_spans == 2
    assert decoded.error_message.startswith("span #0: span_id")
    assert decoded.accepted_spans == 0


def test_every_listed_token_opens(database: Database, spans_decoder: SpansDecoder) -> None:
    writer = SpanWriter(database)
    writer.start()
    try:
        for encoding in Encoding:
            decoded = decode_body(request_body(encoding), encoding, spans_decoder)
            writer.submit(decoded).result(timeout=60)
    finally:
        writer.close()
    with database.reader() as cursor:
        refresh_derived(cursor)
    app = create_api_app(database, api_key="")
    with serve_asgi(app, lifespan="off") as url:
        listed = httpx.get(url + "/api/tokens?since=1h", timeout=30).json()["tokens"]
        assert sorted(token["token_id"] for token in listed) == sorted([GOOD, UPPER.lower()])
        for token in listed:
            response = httpx.get(url + f"/api/tokens/{token['token_id']}?since=1h", timeout=30)
            assert response.status_code == 200, response.text


@pytest.fixture
def big_batch() -> bytes:
    spans = [make_span(attributes={TOKEN_ID: f"{index:032x}"}) for index in range(1000)]
    return make_request(spans).SerializeToString()


def test_the_rule_is_cheap_per_span(big_batch: bytes, spans_decoder: SpansDecoder) -> None:
    # Not a benchmark: a net against a rule that copies every request (the report has the
    # figures). One regex pass over 1000 ids is some tens of µs; allow a loaded machine.
    decoded = spans_decoder(big_batch)
    started = time.perf_counter()
    for _ in range(20):
        assert apply_token_id_rule(decoded) is decoded  # all valid: no copy
    per_span = (time.perf_counter() - started) / 20 / 1000
    assert per_span < 5e-6
