"""A Basic credential with an empty password (``sk_live_...:``, the API key as the user
name, as Stripe's API takes it) is a real credential, on real servers (uvicorn, werkzeug):
fingerprinted whole, on the SERVER span and its child spans, with the usual outcomes, and
told apart from a request with no token."""

from __future__ import annotations

import base64
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.loopback import serve_asgi, serve_wsgi
from tokentrace import attributes as attr
from tokentrace.testing import SpanRecorder

KEY = "sk_live_51Hq2Lm9Vx4EmptyPw"
HEADER = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


def _status(path: str) -> int:
    return 401 if path.endswith("/denied") else 200


def _key_of(authorization: str) -> str:
    return base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")[0]


def _child(path: str, authorization: str | None) -> None:
    """A child span; on /boom it records an error whose message quotes the key."""
    with trace.get_tracer("test").start_as_current_span("child") as span:
        if path.endswith("/boom") and authorization:
            span.record_exception(RuntimeError(f"no account for key {_key_of(authorization)}"))


def asgi_app() -> Any:
    async def handler(request: Request) -> PlainTextResponse:
        _child(request.url.path, request.headers.get("authorization"))
        return PlainTextResponse("body", status_code=_status(request.url.path))

    routes = [Route(path, handler) for path in ("/charges", "/charges/denied", "/charges/boom")]
    return tokentrace.ASGIMiddleware(Starlette(routes=routes))


def wsgi_app() -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        _child(environ["PATH_INFO"], environ.get("HTTP_AUTHORIZATION"))
        status = _status(environ["PATH_INFO"])
        start_response(f"{status} {'OK' if status == 200 else 'Unauthorized'}", [])
        return [b"body"]

    return tokentrace.WSGIMiddleware(app)


SERVERS: dict[str, tuple[Callable[[], Any], Callable[[Any], AbstractContextManager[str]]]] = {
    "asgi": (asgi_app, serve_asgi),
    "wsgi": (wsgi_app, serve_wsgi),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_empty_password_basic_is_a_credential(server: str, recorder: SpanRecorder) -> None:
    build, serve = SERVERS[server]
    with serve(build()) as url:
        assert httpx.get(f"{url}/charges", headers={"Authorization": HEADER}).text == "body"
        denied = httpx.get(f"{url}/charges/denied", headers={"Authorization": HEADER})
        assert denied.status_code == 401
        assert httpx.get(f"{url}/charges").text == "body"  # no token at all
    spans = wait_for_server_spans(recorder, 3)
    token_id = tokentrace.fingerprint(f"{KEY}:")  # the whole user:password, as for any Basic

    ok, denied_span, anonymous = spans  # in request order
    for span in (ok, denied_span):
        assert span.attributes is not None
        assert span.attributes[attr.TOKEN_ID] == token_id
        assert span.attributes[attr.TOKEN_SCHEME] == "basic"
        assert span.attributes[attr.TOKEN_SOURCE] == "header:authorization"
        assert attr.TOKEN_SUBJECT not in span.attributes  # the user name is the secret
    assert ok.attributes is not None and ok.attributes[attr.AUTH_OUTCOME] == "success"
    assert denied_span.attributes is not None
    assert denied_span.attributes[attr.AUTH_OUTCOME] == "invalid"  # not malformed, not missing
    assert anonymous.attributes is not None and attr.TOKEN_ID not in anonymous.attributes

    # The child spans of both requests carry the token id; the anonymous one's does not.
    children = [s for s in recorder.spans() if s.name == "child"]
    assert len(children) == 3
    assert [(s.attributes or {}).get(attr.TOKEN_ID) for s in children] == [
        token_id,
        token_id,
        None,
    ]
    recorder.assert_no_raw_token(KEY, HEADER.removeprefix("Basic "))


def test_empty_pair_is_still_malformed(recorder: SpanRecorder) -> None:
    empty = "Basic " + base64.b64encode(b":").decode()
    with serve_asgi(asgi_app()) as url:
        assert (
            httpx.get(f"{url}/charges/denied", headers={"Authorization": empty}).status_code == 401
        )
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert attr.TOKEN_ID not in span.attributes
    assert span.attributes[attr.AUTH_OUTCOME] == "malformed"


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_the_key_alone_is_cut_out_of_error_messages(server: str, recorder: SpanRecorder) -> None:
    build, serve = SERVERS[server]
    with serve(build()) as url:
        assert httpx.get(f"{url}/charges/boom", headers={"Authorization": HEADER}).text == "body"
    wait_for_server_spans(recorder, 1)
    [child] = [s for s in recorder.spans() if s.name == "child"]
    assert child.attributes is not None
    assert child.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(f"{KEY}:")
    messages = [str((event.attributes or {}).get("exception.message")) for event in child.events]
    assert messages == ["no account for key REDACTED"]
    recorder.assert_no_raw_token(KEY)
