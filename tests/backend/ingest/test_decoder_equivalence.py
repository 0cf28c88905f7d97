"""Differential tests: the Python span decoder (the reference) and the native one must give
the same output for every body, and both must survive hostile bodies.

Hypothesis builds real ``ExportTraceServiceRequest``s with the opentelemetry-proto classes
(every AnyValue kind, every promoted key with values of every type, credential headers,
URL attributes with credential query parameters, events, invalid spans, odd resources), plus arbitrary bytes, truncations and bit flips of
valid bodies and hand-encoded deep nesting around protobuf's recursion limit. "Same" means:
the same spans table (values, nulls, order), the same resources rows (as a set), the same
rejected count and first error, and MalformedSpans for the same bodies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf.internal.encoder import _VarintBytes  # type: ignore[import-untyped]
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    EntityRef,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tests.backend.ingest.decoders import require_native_decoder
from tokentrace._redact import URL_ATTRIBUTES, redact_query, redact_url
from tokentrace.attributes import (
    CREDENTIAL_HEADERS,
    CREDENTIAL_QUERY_PARAMS,
    HEADER_ATTRIBUTE_PREFIXES,
)
from tokentrace_backend.ingest.decoding import SpansDecoder
from tokentrace_backend.ingest.decoding_rules import PROMOTED
from tokentrace_backend.ingest.errors import MalformedSpans
from tokentrace_backend.ingest.native_decoder import decode_spans_native
from tokentrace_backend.ingest.python_decoder import decode_spans
from tokentrace_backend.storage.span_rows import DecodedSpans

# Deterministic in CI (derandomize: the examples follow from the test's code), no example
# database left behind, and small enough that the whole file runs in well under a minute.
EQUIVALENCE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HOSTILE = settings(EQUIVALENCE, max_examples=200)


@pytest.fixture(autouse=True)
def _native_decoder_installed() -> None:
    require_native_decoder()


# --- comparing the two decoders -------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one decoder made of a body: its output, MalformedSpans, or anything else."""

    decoded: DecodedSpans | None
    malformed: bool
    unexpected: BaseException | None


def _run(decode: SpansDecoder, body: bytes) -> Outcome:
    try:
        return Outcome(decode(body), malformed=False, unexpected=None)
    except MalformedSpans:
        return Outcome(None, malformed=True, unexpected=None)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # a Rust panic is a BaseException (PanicException)
        return Outcome(None, malformed=False, unexpected=error)


def _resource_rows(decoded: DecodedSpans) -> set[tuple[Any, ...]]:
    return {tuple(row.values()) for row in decoded.resources.to_pylist()}


def assert_same_decoding(body: bytes) -> None:
    """Both decoders either raise MalformedSpans (and nothing else) or agree on everything."""
    python = _run(decode_spans, body)
    native = _run(decode_spans_native, body)
    assert python.unexpected is None, f"python decoder raised {python.unexpected!r}"
    assert native.unexpected is None, f"native decoder raised {native.unexpected!r}"
    assert python.malformed == native.malformed, (
        f"python malformed={python.malformed}, native malformed={native.malformed}"
    )
    if python.decoded is None or native.decoded is None:
        return
    reference, compiled = python.decoded, native.decoded
    assert (compiled.rejected_spans, compiled.error_message) == (
        reference.rejected_spans,
        reference.error_message,
    )
    assert compiled.spans.schema == reference.spans.schema
    assert compiled.spans.num_rows == reference.spans.num_rows
    for name in reference.spans.column_names:  # column by column, for a readable failure
        assert (
            compiled.spans.column(name).to_pylist() == reference.spans.column(name).to_pylist()
        ), name
    assert compiled.spans.equals(reference.spans)  # also the null bitmaps and types
    assert _resource_rows(compiled) == _resource_rows(reference)


def assert_each_decodes_or_is_malformed(body: bytes) -> None:
    """Neither decoder may fail any other way than MalformedSpans (no crash, no panic)."""
    for decode in (decode_spans, decode_spans_native):
        outcome = _run(decode, body)
        assert outcome.unexpected is None, f"{decode.__name__} raised {outcome.unexpected!r}"


# --- strategies: values ----------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "é",
    "ß",
    "\u2028",
    "\u2029",
    "\x00",
    "\x1f",
    "\x7f",
    '"',
    "\\",
    '\\"',
    "/",
    "\t\n\r",
    "😀",
    "\ufeff",
    "\U0010ffff",
    "a?b",
    "?",
    "/search?api_key=secret&q=1",
    "https://h/p?token=t1&q=1#key=f",
    "a=1&access_token=t2",
    "?%61pi_key=t3",
]
STATUS_STRINGS = [" 200 ", "200", "2_00", "+200", "-200", "٢٠٠", "00200", "000200", "65535",
                  "65536", "0", "", " ", "\t404\n", "\x0b204\x0c", "\xa0200", "1e3", "200.0"]  # fmt: skip
ODD_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    1e16,
    1e15,
    1e-7,
    5e-324,
    1.7976931348623157e308,
    0.1,
    200.0,
    200.5,
    65535.0,
    65536.0,
    -1.0,
    1e21,
    2.0**63,
    -(2.0**63),
]
ODD_INTS = [0, 1, -1, 200, 404, 65535, 65536, 70000, 2**63 - 1, -(2**63), 2**53 + 1]

texts = st.one_of(st.sampled_from(ODD_STRINGS + STATUS_STRINGS), st.text(max_size=12))
int64s = st.one_of(st.sampled_from(ODD_INTS), st.integers(-(2**63), 2**63 - 1))
doubles = st.one_of(st.sampled_from(ODD_FLOATS), st.floats())

scalar_values = st.one_of(
    texts.map(lambda text: AnyValue(string_value=text)),
    st.booleans().map(lambda flag: AnyValue(bool_value=flag)),
    int64s.map(lambda number: AnyValue(int_value=number)),
    doubles.map(lambda number: AnyValue(double_value=number)),
    st.binary(max_size=12).map(lambda raw: AnyValue(bytes_value=raw)),
    # The profiles-only string-table index: not a trace value, but it is on the wire.
    st.integers(-(2**31), 2**31 - 1).map(lambda index: AnyValue(string_value_strindex=index)),
    st.just(AnyValue()),
)

# A small pool of keys inside kvlists, so that repeats happen.
inner_keys = st.one_of(st.sampled_from(["a", "b", "A", "é", "", "exception.type"]), texts)


def _nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
    return st.one_of(
        st.lists(children, max_size=4).map(
            lambda items: AnyValue(array_value=ArrayValue(values=items))
        ),
        st.lists(st.tuples(inner_keys, children), max_size=4).map(
            lambda pairs: AnyValue(
                kvlist_value=KeyValueList(
                    values=[KeyValue(key=key, value=value) for key, value in pairs]
                )
            )
        ),
    )


any_values = st.recursive(scalar_values, _nest, max_leaves=8)


def _value_of_python(value: Any) -> AnyValue:
    """Python scalars as the AnyValue kind they would be sent as."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


# Values that exercise the coercions of promoted columns (status, path, text).
promoted_values = st.one_of(
    st.sampled_from(
        [*STATUS_STRINGS, 200, 404, 70000, -1, 0, 65535, True, False, 200.0, 200.5]
    ).map(_value_of_python),
    any_values,
)


# --- strategies: keys ------------------------------------------------------------------------


@st.composite
def credential_keys(draw: st.DrawFn) -> str:
    """``http.request.header.authorization`` and its spellings (case, ``_`` for ``-``)."""
    key = draw(st.sampled_from(HEADER_ATTRIBUTE_PREFIXES)) + draw(
        st.sampled_from(sorted(CREDENTIAL_HEADERS))
    )
    if draw(st.booleans()):
        key = key.replace("-", "_")
    flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
    key = "".join(char.upper() if flip else char for char, flip in zip(key, flips, strict=True))
    # Unicode case oddities: the Kelvin sign lowercases to "k", a dotted capital I does not to "i".
    return draw(st.sampled_from([key, key.replace("k", "\u212a"), key.replace("i", "\u0130")]))


@st.composite
def url_header_keys(draw: st.DrawFn) -> str:
    """``http.request.header.referer``, ``http.response.header.location``, in any case."""
    key = draw(st.sampled_from(HEADER_ATTRIBUTE_PREFIXES)) + draw(
        st.sampled_from(["referer", "location"])
    )
    flips = draw(st.lists(st.booleans(), min_size=len(key), max_size=len(key)))
    return "".join(char.upper() if flip else char for char, flip in zip(key, flips, strict=True))


attribute_keys = st.one_of(
    st.sampled_from(sorted(PROMOTED)),
    credential_keys(),
    st.sampled_from(URL_ATTRIBUTES),
    url_header_keys(),
    st.sampled_from(
        [
            "plain",
            "count",
            "http.request.header.accept",
            "http.",
            "HTTP.request.header.",
            "error.type",
        ]
    ),
    texts,
)


@st.composite
def attributes(draw: st.DrawFn, keys: st.SearchStrategy[str] = attribute_keys) -> list[KeyValue]:
    pool = draw(st.lists(keys, min_size=1, max_size=6))  # repeated keys come from the pool
    chosen = draw(st.lists(st.sampled_from(pool), max_size=8))
    result: list[KeyValue] = []
    for key in chosen:
        value = draw(promoted_values if key in PROMOTED else any_values)
        odd = draw(st.integers(0, 15))
        if odd == 0:  # no value field at all, unlike an empty AnyValue
            result.append(KeyValue(key=key))
        elif odd == 1:  # the profiles-only key index is on the wire too
            result.append(KeyValue(key=key, value=value, key_strindex=draw(st.integers(-5, 5))))
        else:
            result.append(KeyValue(key=key, value=value))
    return result


# --- strategies: spans, requests -------------------------------------------------------------

MAX_TIME_NS = 2**63 - 1
REALISTIC_NS = 1_700_000_000_000_000_000


def _ids(size: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(min_size=size, max_size=size),
        st.just(bytes(size)),
        st.binary(max_size=size + 2),  # wrong lengths, empty included
    )


@st.composite
def span_times(draw: st.DrawFn) -> tuple[int, int]:
    start = draw(
        st.one_of(
            st.integers(REALISTIC_NS, REALISTIC_NS + 10**12),
            st.sampled_from([0, 1, MAX_TIME_NS - 1, MAX_TIME_NS, MAX_TIME_NS + 1, 2**64 - 1]),
        )
    )
    end = draw(
        st.one_of(
            st.integers(start, min(start + 10**10, 2**64 - 1)),
            st.integers(0, 2**64 - 1),  # before start, or past 2262
            st.sampled_from([MAX_TIME_NS, MAX_TIME_NS + 1, 2**64 - 1]),
        )
    )
    return start, end


@st.composite
def events(draw: st.DrawFn) -> list[Span.Event]:
    event_keys = st.sampled_from(
        ["exception.type", "exception.message", "exception.stacktrace", "x"]
    )
    return [
        Span.Event(
            name=draw(st.sampled_from(["exception", "Exception", "log", ""])),
            time_unix_nano=draw(st.one_of(st.integers(0, 2**64 - 1), st.just(REALISTIC_NS))),
            attributes=draw(attributes(st.one_of(event_keys, texts))),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]


kinds = st.one_of(st.integers(0, 5), st.sampled_from([-1, 6, 7, 2**31 - 1, -(2**31)]))
status_codes = st.one_of(st.integers(0, 2), st.sampled_from([-1, 3, 2**31 - 1, -(2**31)]))


@st.composite
def spans(draw: st.DrawFn) -> Span:
    """A span, storable about half the time (so that its values reach the columns)."""
    if draw(st.booleans()):
        trace_id, span_id = (
            draw(st.binary(min_size=16, max_size=16)),
            draw(st.binary(min_size=8, max_size=8)),
        )
        parent_id = draw(st.sampled_from([b"", b"\x03" * 8, bytes(8)]))
        start = draw(st.integers(REALISTIC_NS, REALISTIC_NS + 10**12))
        end, kind, code = (
            start + draw(st.integers(0, 10**10)),
            draw(st.integers(0, 5)),
            draw(st.integers(0, 2)),
        )
    else:
        trace_id, span_id, parent_id = (
            draw(_ids(16)),
            draw(_ids(8)),
            draw(st.one_of(st.just(b""), _ids(8))),
        )
        (start, end), kind, code = draw(span_times()), draw(kinds), draw(status_codes)
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=draw(texts),
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=draw(attributes()),
        events=draw(events()),
    )
    if draw(st.booleans()):
        span.status.CopyFrom(Status(code=code, message=draw(texts)))  # type: ignore[arg-type]
    return span


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    keys = st.one_of(st.sampled_from(["service.name", "service.version", "host.name"]), texts)
    service = st.one_of(texts.map(lambda text: AnyValue(string_value=text)), any_values)
    pairs = draw(st.lists(st.tuples(keys, service), max_size=5))
    entity_refs = st.builds(
        EntityRef,
        schema_url=texts,
        type=texts,
        id_keys=st.lists(texts, max_size=2),
        description_keys=st.lists(texts, max_size=2),
    )
    return Resource(
        attributes=[KeyValue(key=key, value=value) for key, value in pairs],
        entity_refs=draw(st.lists(entity_refs, max_size=2)),
    )


@st.composite
def export_requests(draw: st.DrawFn) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=draw(resources()),
                scope_spans=[
                    ScopeSpans(spans=draw(st.lists(spans(), max_size=4)))
                    for _ in range(draw(st.integers(0, 3)))
                ],
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
    )


# --- the equivalence tests -------------------------------------------------------------------


@EQUIVALENCE
@given(export_requests())
def test_decoders_agree_on_export_requests(request: ExportTraceServiceRequest) -> None:
    assert_same_decoding(request.SerializeToString())


@EQUIVALENCE
@given(st.lists(st.tuples(st.sampled_from(sorted(PROMOTED)), promoted_values), max_size=10))
def test_decoders_agree_on_promoted_attributes(pairs: list[tuple[str, AnyValue]]) -> None:
    span = Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_time_unix_nano=REALISTIC_NS,
        end_time_unix_nano=REALISTIC_NS + 1,
        attributes=[KeyValue(key=key, value=value) for key, value in pairs],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    assert_same_decoding(request.SerializeToString())


scalars = st.one_of(doubles, texts, int64s, st.booleans(), st.text(min_size=1, max_size=40))


@settings(EQUIVALENCE, max_examples=500)
@given(st.lists(scalars, min_size=1, max_size=12))
def test_decoders_agree_on_scalars_everywhere(values: list[Any]) -> None:
    """Each value in every place it can end up: attribute JSON (as a value and as a key),
    a text column, the status and path columns, an array, an event, the resource."""
    as_values = [_value_of_python(value) for value in values]
    keyed = [KeyValue(key=str(value), value=_value_of_python(value)) for value in values]
    span = Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_time_unix_nano=REALISTIC_NS,
        end_time_unix_nano=REALISTIC_NS + 1,
        attributes=[
            *keyed,
            KeyValue(key="array", value=AnyValue(array_value=ArrayValue(values=as_values))),
            KeyValue(key="client.address", value=as_values[0]),
            KeyValue(key="http.response.status_code", value=as_values[-1]),
            KeyValue(key="http.target", value=as_values[len(values) // 2]),
        ],
        events=[Span.Event(name="exception", attributes=keyed)],
    )
    resource = Resource(attributes=[*keyed, KeyValue(key="service.version", value=as_values[0])])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])]
    )
    assert_same_decoding(request.SerializeToString())


# --- URL attributes: credential query parameters (the library's redact_url) -------------------

PARAMS = CREDENTIAL_QUERY_PARAMS
URL_CASES = {
    "first": "https://api.example/orders?api_key=raw1&page=2",
    "middle": "https://api.example/orders?page=2&token=raw2&sort=asc",
    "last": "https://api.example/orders?page=2&access_token=raw3",
    "repeated": "https://api.example/o?key=raw4&page=2&key=raw5&key=raw6",
    "all-four": "/o?api_key=r1&access_token=r2&token=r3&key=r4",
    "mixed-case": "https://api.example/o?API_KEY=raw7&Token=raw8&api_key=raw9",
    "percent-encoded-name": "/o?api%5Fkey=raw10&%61ccess_token=raw11&%6B%65%79=raw12",
    "lowercase-percent-hex": "/o?api%5fkey=raw13",
    "plus-in-name": "/o?api+key=raw14&to+ken=raw15",
    "invalid-percent": "/o?api%5key=raw16&%zzkey=raw17&key%=raw18&%E2%82=x",
    "semicolon": "/o?page=2;api_key=raw19&q=1;token=raw20",
    "semicolon-after-value": "/o?api_key=raw21;page=2",
    "empty-value": "/o?api_key=&page=2",
    "no-value": "/o?api_key&page=2",
    "value-with-equals": "/o?token=a=b=c&page=2",
    "no-query": "https://api.example/orders/7",
    "empty-query": "https://api.example/orders?",
    "fragment-after": "https://api.example/o?api_key=raw22&page=2#section",
    "fragment-holds-a-param": "https://api.example/o?page=2#api_key=raw23",
    "fragment-only": "https://api.example/o#token=raw24",
    "two-question-marks": "/o?page=1?api_key=raw25&token=raw26",
    "name-is-a-prefix": "/o?api_keys=raw27&tokens=raw28&xkey=raw29&key_=raw30",
    "non-ascii": "/ö?päge=ü&api_key=räw31&%C3%A9=1",
    "empty-pairs": "/o?&&api_key=raw32&&",
    "only-a-value": "/o?=raw33",
}
QUERY_CASES = {name: url.partition("?")[2] for name, url in URL_CASES.items()} | {
    "query-with-question-mark": "a=1?api_key=raw34&token=raw35",
    "query-with-fragment": "token=raw36#key=raw37",
}


def _span_with(attributes: list[KeyValue], events: list[Span.Event] | None = None) -> Span:
    return Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        start_time_unix_nano=REALISTIC_NS,
        end_time_unix_nano=REALISTIC_NS + 1,
        attributes=attributes,
        events=events or [],
    )


def _string(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def _strings(*texts: str) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=[_string(text) for text in texts]))


def _url_attributes(query: str, url: str) -> tuple[list[KeyValue], dict[str, Any]]:
    """Every URL attribute and URL-valued captured header, and what each must be stored as
    (the library's redaction of it)."""
    headers = [
        "http.request.header.referer",
        "http.response.header.location",
        "HTTP.Request.Header.Referer",
        "http.response.header.LOCATION",
    ]
    pairs = [
        KeyValue(key="url.query", value=_string(query)),
        KeyValue(key="url.full", value=_string(url)),
        KeyValue(key="http.url", value=_string(url)),
        *(KeyValue(key=key, value=_strings(url, "/plain", url)) for key in headers),
        KeyValue(key="http.request.header.referer_string", value=_string(url)),  # not a header
        KeyValue(key="http.request.header.x-url", value=_strings(url)),  # not URL-valued
    ]
    expected: dict[str, Any] = {
        "url.query": redact_query(query, PARAMS),
        "url.full": redact_url(url, PARAMS),
        "http.url": redact_url(url, PARAMS),
        **{key: [redact_url(url, PARAMS), "/plain", redact_url(url, PARAMS)] for key in headers},
        "http.request.header.referer_string": url,
        "http.request.header.x-url": [url],
    }
    return pairs, expected


@pytest.mark.parametrize("url", list(URL_CASES.values()), ids=list(URL_CASES))
def test_decoders_redact_credential_params_in_url_attributes(url: str) -> None:
    """Span attributes, event attributes, resource attributes and values nested in a kvlist:
    both decoders store what the library's redact_url / redact_query give, and agree."""
    query = url.partition("?")[2].partition("#")[0]
    pairs, expected = _url_attributes(query, url)
    path_and_query = "/" + url.partition("://")[2].partition("/")[2] if "://" in url else url
    target = KeyValue(key="http.target", value=_string(path_and_query))
    as_string_header = KeyValue(key="http.response.header.location", value=_string(url))
    nested = KeyValue(
        key="request", value=AnyValue(kvlist_value=KeyValueList(values=[*pairs, target]))
    )
    span = _span_with(pairs, events=[Span.Event(name="redirect", attributes=[*pairs, target])])
    other = _span_with([target, as_string_header, nested])
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=_string("svc")), *pairs, target]
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span, other])])
        ]
    )
    body = request.SerializeToString()
    assert_same_decoding(body)

    decoded = decode_spans(body)  # the same as the native decoder's, asserted above
    first, second = decoded.spans.to_pylist()
    target_value = redact_url(target.value.string_value, PARAMS)
    assert json.loads(first["attributes"]) == expected
    (event,) = json.loads(first["events"])
    assert event["attributes"] == {**expected, "http.target": target_value}
    assert second["url_path"] == target.value.string_value.partition("?")[0]
    assert json.loads(second["attributes"]) == {
        "http.response.header.location": redact_url(url, PARAMS),
        "request": {**expected, "http.target": target_value},
    }
    (resource_row,) = decoded.resources.to_pylist()
    assert json.loads(resource_row["attributes"]) == {
        "service.name": "svc",
        **expected,
        "http.target": target_value,
    }


@pytest.mark.parametrize("query", list(QUERY_CASES.values()), ids=list(QUERY_CASES))
def test_decoders_redact_url_query_as_the_library_does(query: str) -> None:
    span = _span_with([KeyValue(key="url.query", value=_string(query))])
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()
    assert_same_decoding(body)
    (row,) = decode_spans(body).spans.to_pylist()
    assert json.loads(row["attributes"]) == {"url.query": redact_query(query, PARAMS)}


def test_only_credential_values_change() -> None:
    """The marker is the library's REDACTED; every other byte of the URL is kept."""
    url = "https://api.example/o?page=2&api_key=raw&Token=x&%61pi_key=y;key=z&q=%20+#key=f"
    span = _span_with([KeyValue(key="url.full", value=_string(url))])
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()
    for decode in (decode_spans, decode_spans_native):
        (row,) = decode(body).spans.to_pylist()
        assert json.loads(row["attributes"])["url.full"] == (
            "https://api.example/o?page=2&api_key=REDACTED&Token=x&%61pi_key=REDACTED&q=%20+#key=f"
        )


query_names = st.one_of(
    st.sampled_from(sorted(PARAMS)),
    st.sampled_from(["API_KEY", "Token", "api%5Fkey", "%6Bey", "to+ken", "api_keys", "page", ""]),
    st.text(alphabet="ak_%5fF+=;?#&ey", max_size=8),
    st.text(max_size=6),
)
query_values = st.one_of(st.sampled_from(["raw", "", "a=b", "%20", "é"]), st.text(max_size=6))


@st.composite
def urls(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(
            st.one_of(
                st.tuples(query_names, query_values).map("=".join),
                query_names,  # no "="
            ),
            max_size=6,
        )
    )
    separators = draw(st.lists(st.sampled_from(["&", "&", ";"]), min_size=len(pairs)))
    query = "".join(sep + pair for sep, pair in zip(separators, pairs, strict=False))[1:]
    base = draw(st.sampled_from(["https://api.example/o", "/o", "", "/a?b"]))
    fragment = draw(st.sampled_from(["", "#", "#key=f", "#a?token=x"]))
    return base + draw(st.sampled_from(["?", "?", ""])) + query + fragment


@EQUIVALENCE
@given(urls())
def test_decoders_agree_on_generated_urls(url: str) -> None:
    query = url.partition("?")[2].partition("#")[0]
    pairs, expected = _url_attributes(query, url)
    target = KeyValue(key="http.target", value=_string(url))
    span = _span_with([*pairs, target], events=[Span.Event(name="e", attributes=pairs)])
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    ).SerializeToString()
    assert_same_decoding(body)
    (row,) = decode_spans(body).spans.to_pylist()
    assert json.loads(row["attributes"]) == expected
    assert json.loads(row["events"])[0]["attributes"] == expected


# --- hand-encoded protobuf, for what the generated classes cannot build ----------------------


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited field."""
    return bytes(_VarintBytes(number << 3 | 2)) + bytes(_VarintBytes(len(payload))) + payload


def _nested_value(depth: int, via: str) -> bytes:
    """An AnyValue nested ``depth`` times through arrays or kvlists, as bytes."""
    value = _field(1, b"x")  # string_value
    for level in range(depth):
        through_array = via == "array" or (via == "mixed" and level % 2)
        if through_array:
            value = _field(5, _field(1, value))  # array_value.values
        else:
            value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))  # kvlist_value
    return value


def _nested_group(depth: int) -> bytes:
    """An unknown field (number 99) holding ``depth`` nested groups."""
    start, end = bytes(_VarintBytes(99 << 3 | 3)), bytes(_VarintBytes(99 << 3 | 4))
    return start * depth + end * depth


_VALID_SPAN = Span(
    trace_id=b"\x01" * 16,
    span_id=b"\x02" * 8,
    start_time_unix_nano=REALISTIC_NS,
    end_time_unix_nano=REALISTIC_NS + 1,
).SerializeToString()


def _deep_bodies() -> Iterator[tuple[str, bytes]]:
    # Both decoders allow 100 nested messages; an AnyValue level is 2 (array) or 3 (kvlist)
    # messages, so these depths straddle the limit from both sides.
    for via in ("array", "kvlist", "mixed"):
        for depth in (*range(28, 38), *range(44, 54), 200):
            attribute = _field(1, b"deep") + _field(2, _nested_value(depth, via))
            span = _VALID_SPAN + _field(9, attribute)
            event = _field(11, _field(2, b"exception") + _field(3, attribute))
            yield f"span-{via}-{depth}", _field(1, _field(2, _field(2, span)))
            yield f"event-{via}-{depth}", _field(1, _field(2, _field(2, _VALID_SPAN + event)))
            yield f"resource-{via}-{depth}", _field(1, _field(1, _field(1, attribute)))
    for depth in (30, 60, 98, 99, 100, 101, 102, 1000):
        yield (
            f"group-span-{depth}",
            _field(1, _field(2, _field(2, _VALID_SPAN + _nested_group(depth)))),
        )
        attribute = _field(1, b"k") + _nested_group(depth)
        yield (
            f"group-attr-{depth}",
            _field(1, _field(2, _field(2, _VALID_SPAN + _field(9, attribute)))),
        )
        yield f"group-top-{depth}", _nested_group(depth)


DEEP_BODIES = dict(_deep_bodies())
# The native decoder decodes each span on its own, so prost counts nesting from the span
# where upb counts it from the request (native/src/view.rs): unknown groups this deep in a
# span are accepted there and refused by the Python decoder. Both outcomes are safe.
_DEPTH_COUNTED_FROM_THE_SPAN = {f"group-span-{depth}" for depth in (98, 99, 100)}


@pytest.mark.parametrize("body", list(DEEP_BODIES.values()), ids=list(DEEP_BODIES))
def test_deep_nesting_around_the_recursion_limit(
    body: bytes, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.id in _DEPTH_COUNTED_FROM_THE_SPAN:
        python, native = _run(decode_spans, body), _run(decode_spans_native, body)
        assert python.malformed and native.decoded is not None
        assert native.decoded.accepted_spans == 1
        return
    assert_same_decoding(body)


# --- hostile bodies --------------------------------------------------------------------------

# Two known divergences, where prost is stricter than upb (the reference), which keeps the
# field as an unknown one or drops the surplus bits; test_known_divergences_of_prost holds
# them. (1) A known field with another wire type: the wire types below are those of the
# view's fields (fields the view does not declare are skipped by both, whatever their wire
# type) and of every field of the classes the parts are decoded with. (2) A varint whose
# tenth byte carries bits past the 64th, in any field, known or not.
_VARINT, _FIXED64, _DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_SCHEMA: dict[str, dict[int, tuple[int, str | None]]] = {
    "request": {1: (_DELIMITED, "resource_spans")},
    "resource_spans": {1: (_DELIMITED, "resource"), 2: (_DELIMITED, "scope_spans")},
    "scope_spans": {2: (_DELIMITED, "span")},
    "span": {
        1: (_DELIMITED, None),
        2: (_DELIMITED, None),
        4: (_DELIMITED, None),
        5: (_DELIMITED, None),
        6: (_VARINT, None),
        7: (_FIXED64, None),
        8: (_FIXED64, None),
        9: (_DELIMITED, "key_value"),
        11: (_DELIMITED, "event"),
        15: (_DELIMITED, "status"),
    },
    "resource": {1: (_DELIMITED, "key_value"), 2: (_VARINT, None), 3: (_DELIMITED, "entity_ref")},
    "entity_ref": {
        1: (_DELIMITED, None),
        2: (_DELIMITED, None),
        3: (_DELIMITED, None),
        4: (_DELIMITED, None),
    },
    "key_value": {1: (_DELIMITED, None), 2: (_DELIMITED, "any_value"), 3: (_VARINT, None)},
    "any_value": {
        1: (_DELIMITED, None),
        2: (_VARINT, None),
        3: (_VARINT, None),
        4: (_FIXED64, None),
        5: (_DELIMITED, "array"),
        6: (_DELIMITED, "kvlist"),
        7: (_DELIMITED, None),
        8: (_VARINT, None),
    },
    "array": {1: (_DELIMITED, "any_value")},
    "kvlist": {1: (_DELIMITED, "key_value")},
    "event": {
        1: (_FIXED64, None),
        2: (_DELIMITED, None),
        3: (_DELIMITED, "key_value"),
        4: (_VARINT, None),
    },
    "status": {2: (_DELIMITED, None), 3: (_VARINT, None)},
}


def _varint(body: bytes, position: int) -> tuple[int, int, bool]:
    """(value, next position, whether the tenth byte carries bits past the 64th)."""
    value = 0
    for index in range(10):
        byte = body[position + index]  # IndexError when truncated
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, position + index + 1, index == 9 and byte > 1
    raise ValueError("a varint longer than 10 bytes")


def has_known_divergence(body: bytes, message: str = "request", depth: int = 0) -> bool:
    """Whether ``body`` holds one of the two known divergences (a best-effort walk: what
    it cannot walk counts as none, and both decoders reject it alike)."""
    if depth > 120:  # past both recursion limits: rejected alike
        return False
    schema = _SCHEMA[message]
    position, open_groups = 0, 0
    try:
        while position < len(body):
            tag, position, _ = _varint(body, position)
            number, wire_type = tag >> 3, tag & 7
            expected = schema.get(number) if open_groups == 0 else None
            if expected is not None and expected[0] != wire_type:
                return True
            if wire_type == _VARINT:
                _, position, overflows = _varint(body, position)
                if overflows:
                    return True
            elif wire_type in (_FIXED64, _FIXED32):
                position += 8 if wire_type == _FIXED64 else 4
            elif wire_type == _DELIMITED:
                size, position, _ = _varint(body, position)
                payload = body[position : position + size]
                position += size
                inner = None if expected is None else expected[1]
                if inner is not None and has_known_divergence(payload, inner, depth + 1):
                    return True
            elif wire_type in (_START_GROUP, _END_GROUP):  # groups only in unknown fields
                open_groups += 1 if wire_type == _START_GROUP else -1
            else:
                return False
    except (IndexError, ValueError):
        return False
    return False


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """A valid body, truncated or with some bits flipped."""
    body = bytearray(draw(export_requests()).SerializeToString())
    assume(body)
    if draw(st.booleans()):
        return bytes(body[: draw(st.integers(0, len(body) - 1))])
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(body) - 1))
        body[position] ^= 1 << draw(st.integers(0, 7))
    return bytes(body)


hostile_bodies = st.one_of(st.binary(max_size=200), mutated_bodies())


@HOSTILE
@given(hostile_bodies)
def test_hostile_bodies_decode_or_are_malformed_alike(body: bytes) -> None:
    assert_each_decodes_or_is_malformed(body)  # whatever the body: no crash, no panic
    if not has_known_divergence(body):  # those have a test of their own
        assert_same_decoding(body)


def _span_body(extra_span_fields: bytes) -> bytes:
    return _field(1, _field(2, _field(2, _VALID_SPAN + extra_span_fields)))


def _tag(number: int, wire_type: int) -> bytes:
    return bytes(_VarintBytes(number << 3 | wire_type))


_OVERFLOWING_VARINT = bytes([0xFF] * 9 + [0x7F])  # upb keeps the low 64 bits: -1


# The one accepted difference (docs/backend.md#decoding): prost is stricter than upb about
# bodies no OTLP exporter writes. A known field with another wire type, or a varint with
# bits past the 64th, is kept as an unknown field (or cut to 64 bits) by upb; prost refuses
# it. The native decoder then refuses the request (400) or rejects the span that holds it
# (partial success): it never stores something the Python decoder would store differently.
@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(_field(6, b"\x00"), id="span-kind-length-delimited"),
        pytest.param(
            _field(9, _field(1, b"k") + _field(2, _field(3, b"xx"))), id="attribute-int-delimited"
        ),
        pytest.param(_field(15, _tag(3, _FIXED64) + bytes(8)), id="status-code-fixed64"),
        pytest.param(_tag(6, _VARINT) + _OVERFLOWING_VARINT, id="span-kind-varint-overflow"),
        pytest.param(_tag(99, _VARINT) + _OVERFLOWING_VARINT, id="unknown-varint-overflow"),
        pytest.param(
            _field(9, _field(1, b"k") + _field(2, _tag(3, _VARINT) + _OVERFLOWING_VARINT)),
            id="attribute-int-varint-overflow",
        ),
    ],
)
def test_prost_refuses_what_upb_tolerates(extra: bytes) -> None:
    body = _field(1, _field(2, _field(2, _VALID_SPAN + extra)))
    assert has_known_divergence(body)
    python = _run(decode_spans, body)
    native = _run(decode_spans_native, body)
    assert python.unexpected is None and native.unexpected is None
    assert python.decoded is not None  # upb tolerates it (the span may still be invalid)
    if native.decoded is not None:
        assert (native.decoded.accepted_spans, native.decoded.rejected_spans) == (0, 1)
    else:
        assert native.malformed


def _key_value(key: bytes, any_value: bytes) -> bytes:
    return _field(1, key) + _field(2, any_value)


_ARRAY_A = _field(5, _field(1, _field(1, b"a")))  # AnyValue{array_value: ["a"]}
_ARRAY_B = _field(5, _field(1, _field(1, b"b")))
WIRE_ODDITIES = {
    # Protobuf's merge rules: a repeated message field merges, a bytes field is replaced
    # (the view declares status and resource as bytes, in both decoders).
    "status-twice": _field(15, _field(2, b"a")) + _field(15, _tag(3, _VARINT) + b"\x02"),
    "attribute-value-twice": _field(9, _key_value(b"k", _ARRAY_A) + _field(2, _ARRAY_B)),
    "attribute-oneof-switches-kind": _field(
        9, _key_value(b"k", _field(1, b"s") + _tag(2, _VARINT) + b"\x01")
    ),
    "attribute-oneof-array-twice": _field(9, _key_value(b"k", _ARRAY_A + _ARRAY_B)),
    "attribute-key-twice": _field(9, _field(1, b"k") + _key_value(b"j", _field(1, b"v"))),
    # Varints: 10 bytes, padded, wider than int32, longer than 10 bytes.
    "kind-ten-byte-minus-one": _tag(6, _VARINT) + bytes([0xFF] * 9 + [0x01]),
    "kind-padded": _tag(6, _VARINT) + bytes([0x81, 0x80, 0x80, 0x00]),
    "kind-wider-than-int32": _tag(6, _VARINT) + bytes(_VarintBytes(2**32 + 1)),
    "kind-eleven-bytes": _tag(6, _VARINT) + bytes([0x81] * 10 + [0x00]),
    "length-past-64-bits": _tag(99, _DELIMITED) + bytes([0x80] * 9 + [0x7F]),
    # Tags: field 0, the largest field number, groups that do not match, wire types 6 and 7.
    "field-zero": _tag(0, _VARINT) + b"\x00",
    "largest-field-number": _tag(2**29 - 1, _VARINT) + b"\x00",
    "end-group-alone": _tag(99, _END_GROUP),
    "group-mismatch": _tag(99, _START_GROUP) + _tag(98, _END_GROUP),
    "unknown-group": _tag(99, _START_GROUP) + _tag(1, _VARINT) + b"\x01" + _tag(99, _END_GROUP),
    "wire-type-6": _tag(99, 6),
    "wire-type-7": _tag(99, 7),
    # UTF-8: invalid, overlong, a surrogate, in a string field and in an unknown one.
    "name-invalid-utf8": _field(5, b"\xff"),
    "name-overlong-utf8": _field(5, b"\xc0\x80"),
    "name-surrogate-utf8": _field(5, b"\xed\xa0\x80"),
    "unknown-field-invalid-utf8": _field(3, b"\xff"),
    "status-message-invalid-utf8": _field(15, _field(2, b"\xff")),
    "attribute-key-invalid-utf8": _field(9, _key_value(b"\xff", _field(1, b"v"))),
    "event-name-invalid-utf8": _field(11, _field(2, b"\xff")),
    "event-not-an-event": _field(11, b"\xff"),
}


@pytest.mark.parametrize("extra", list(WIRE_ODDITIES.values()), ids=list(WIRE_ODDITIES))
def test_decoders_agree_on_wire_oddities_in_a_span(extra: bytes) -> None:
    assert_same_decoding(_field(1, _field(2, _field(2, _VALID_SPAN + extra))))


def test_decoders_agree_on_wire_oddities_in_resources() -> None:
    name = _key_value(b"service.name", _field(1, b"a"))
    version = _key_value(b"service.version", _field(1, b"b"))
    spans = _field(2, _field(2, _VALID_SPAN))
    assert_same_decoding(
        _field(1, _field(1, _field(1, name)) + _field(1, _field(1, version)) + spans)
    )
    assert_same_decoding(_field(1, _field(1, _field(3, _field(1, b"\xff"))) + spans))
    assert_same_decoding(_field(1, _field(1, _field(1, _key_value(b"\xff", b""))) + spans))
