"""Baggage is caller-controlled: an internet-facing edge can refuse a token id in it."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.loopback import serve_asgi
from tokentrace import attributes as attr
from tokentrace.testing import SpanRecorder

FORGED = "f" * 32


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_incoming_baggage_is_trusted_by_default_for_requests_without_a_token(
    recorder: SpanRecorder,
) -> None:
    with serve_asgi(tokentrace.ASGIMiddleware(Starlette(routes=[Route("/", ok)]))) as url:
        httpx.get(url, headers={"baggage": f"tokentrace.token.id={FORGED}"})
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_ID] == FORGED


def test_edge_refuses_token_ids_from_baggage(recorder: SpanRecorder) -> None:
    app = tokentrace.ASGIMiddleware(Starlette(routes=[Route("/", ok)]), accept_baggage=False)
    with serve_asgi(app) as url:
        httpx.get(url, headers={"baggage": f"tokentrace.token.id={FORGED}"})
        httpx.get(url, headers={"baggage": "tokentrace.token.id=not-an-id"})
    spans = wait_for_server_spans(recorder, 2)
    assert all(attr.TOKEN_ID not in (s.attributes or {}) for s in recorder.spans())
    assert len(spans) == 2


def test_own_token_wins_over_baggage(recorder: SpanRecorder) -> None:
    with serve_asgi(tokentrace.ASGIMiddleware(Starlette(routes=[Route("/", ok)]))) as url:
        httpx.get(
            url,
            headers={"baggage": f"tokentrace.token.id={FORGED}", "X-API-Key": "real-key-1"},
        )
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint("real-key-1")
