"""Bad input and internal failures never change the app's response or its exceptions;
tokentrace's own errors are logged once and swallowed."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.loopback import serve_asgi, serve_wsgi
from tokentrace import attributes as attr
from tokentrace._analysis import TokenAnalyzer
from tokentrace.testing import SpanRecorder


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"yes")]})
    await send({"type": "http.response.body", "body": b"app body"})


def wsgi_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("X-App", "yes")])
    return [b"app body"]


ODD_HEADERS: list[list[bytes]] = [
    [b"Authorization: Bearer "],
    [b"Authorization: Bearer " + b"A" * 65536],
    [b"Authorization: Basic \xff\xfe\x80"],
    [b"Authorization: Bearer \xc3\x28.\xff.\xfe"],
    [b"Authorization: Bearer eyJhbGciOi.eyJzdWIi.broken"],
    [b"Authorization: Bearer ey.ey.ey", b"X-API-Key: "],
    [b"Authorization: Bearer one", b"Authorization: Bearer two"],
    [b"Cookie: =;;==; session", b"X-API-Key: \xff"],
]


def raw_get(url: str, header_lines: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """A GET over a plain socket, so that odd header bytes reach the server as they are."""
    host, port = url.removeprefix("http://").split(":")
    request = b"GET /?api_key=%FF%FE HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    request += b"".join(line + b"\r\n" for line in header_lines) + b"\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if headers.get("transfer-encoding") == "chunked":
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("headers", ODD_HEADERS, ids=range(len(ODD_HEADERS)))
@pytest.mark.parametrize("server", ["asgi", "wsgi"])
def test_odd_headers_leave_the_response_unchanged(
    server: str, headers: list[bytes], recorder: SpanRecorder
) -> None:
    """The same raw request gets the same answer with and without tokentrace."""
    if server == "asgi":
        bare, instrumented, serve = echo_app, tokentrace.ASGIMiddleware(echo_app), serve_asgi
    else:
        bare, instrumented, serve = wsgi_echo, tokentrace.WSGIMiddleware(wsgi_echo), serve_wsgi
    answers = []
    for app in (bare, instrumented):
        with serve(app) as url:
            status, response_headers, body = raw_get(url, headers)
        response_headers.pop("date", None)
        answers.append((status, response_headers, body))
    assert answers[0] == answers[1]
    if answers[0][0] == 200:  # the server let the request through to the app
        assert answers[1][2] == b"app body"
        [span] = wait_for_server_spans(recorder, 1)
        assert span.attributes is not None


def test_empty_bearer_is_malformed_on_401(recorder: SpanRecorder) -> None:
    async def deny(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve_asgi(tokentrace.ASGIMiddleware(deny)) as url:
        assert raw_get(url, [b"Authorization: Bearer "])[0] == 401
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.AUTH_OUTCOME] == "malformed"
    assert attr.TOKEN_ID not in span.attributes


@pytest.mark.usefixtures("swallowed_internal_errors")
def test_owner_resolver_that_raises_is_logged_once(
    recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    def resolver(token_id: str, claims: Mapping[str, Any]) -> tokentrace.Owner:
        raise LookupError("directory down")

    app = tokentrace.ASGIMiddleware(echo_app, owner_resolver=resolver)
    with caplog.at_level(logging.WARNING, logger="tokentrace"), serve_asgi(app) as url:
        for number in range(3):
            assert httpx.get(url, headers={"X-API-Key": f"key-{number}"}).text == "app body"
    assert len(wait_for_server_spans(recorder, 3)) == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "tokentrace"]
    assert len([m for m in messages if "owner resolver" in m]) == 1
    assert "LookupError" in messages[0]


def test_owner_resolver_result_is_recorded_and_cached(recorder: SpanRecorder) -> None:
    calls: list[str] = []

    def resolver(token_id: str, claims: Mapping[str, Any]) -> tokentrace.Owner:
        calls.append(token_id)
        return tokentrace.Owner("svc:billing", "service", "billing nightly")

    app = tokentrace.ASGIMiddleware(echo_app, owner_resolver=resolver)
    with serve_asgi(app) as url:
        for _ in range(3):
            httpx.get(url, headers={"X-API-Key": "billing-key"})
    spans = wait_for_server_spans(recorder, 3)
    assert len(calls) == 1
    assert all(s.attributes and s.attributes[attr.TOKEN_OWNER] == "svc:billing" for s in spans)
    assert spans[0].attributes and spans[0].attributes[attr.TOKEN_NAME] == "billing nightly"


@pytest.mark.usefixtures("swallowed_internal_errors")
def test_internal_error_is_swallowed_and_the_app_still_answers(
    monkeypatch: pytest.MonkeyPatch, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: TokenAnalyzer, header: Any, query_string: str) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(TokenAnalyzer, "analyze", broken)
    with caplog.at_level(logging.WARNING, logger="tokentrace"):
        with serve_asgi(tokentrace.ASGIMiddleware(echo_app)) as url:
            assert httpx.get(url, headers={"Authorization": "Bearer x"}).text == "app body"
        with serve_wsgi(tokentrace.WSGIMiddleware(wsgi_echo)) as url:
            assert httpx.get(url, headers={"Authorization": "Bearer x"}).text == "app body"
    logged = [r.getMessage() for r in caplog.records if r.name == "tokentrace"]
    assert len([m for m in logged if "request analysis (UnicodeDecodeError)" in m]) == 1
    # Both requests were still traced, with their query redacted, just not tagged.
    spans = wait_for_server_spans(recorder, 2)
    assert len(spans) == 2
    assert all(attr.TOKEN_ID not in (s.attributes or {}) for s in spans)


@pytest.mark.usefixtures("swallowed_internal_errors")
def test_a_failed_preparation_hands_the_app_its_request_unchanged(
    monkeypatch: pytest.MonkeyPatch, recorder: SpanRecorder
) -> None:
    """When hiding the raw query fails half-way, the app still gets the request as it came:
    the real query, and no FastAPI-telemetry mark left in an ASGI scope."""

    def broken(*args: Any) -> Any:
        raise RuntimeError("injected")

    seen: dict[str, Any] = {}

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        seen["asgi"] = dict(scope)
        await echo_app(scope, receive, send)

    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["wsgi"] = dict(environ)
        return wsgi_echo(environ, start_response)

    monkeypatch.setattr(tokentrace._asgi, "redact_query_bytes", broken)
    monkeypatch.setattr(tokentrace._wsgi, "redact_url", broken)  # after QUERY_STRING is hidden
    with serve_asgi(tokentrace.ASGIMiddleware(asgi_app)) as url:
        assert httpx.get(url + "/?api_key=s3cret&a=1").text == "app body"
    with serve_wsgi(tokentrace.WSGIMiddleware(wsgi_app)) as url:
        assert httpx.get(url + "/?api_key=s3cret&a=1").text == "app body"
    assert "fastapi.telemetry" not in seen["asgi"]
    assert seen["asgi"]["query_string"] == b"api_key=s3cret&a=1"
    assert seen["wsgi"]["QUERY_STRING"] == "api_key=s3cret&a=1"


def test_a_64_kib_authorization_header_in_process(recorder: SpanRecorder) -> None:
    """Servers reject such headers themselves (431); called directly, tokentrace copes."""
    huge = "Bearer " + "A" * 65536
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = http_scope([(b"authorization", huge.encode())])
    asyncio.run(tokentrace.ASGIMiddleware(echo_app)(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[1]["body"] == b"app body"
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "t", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "HTTP_AUTHORIZATION": huge,
    }  # fmt: skip
    body = tokentrace.WSGIMiddleware(wsgi_echo)(environ, lambda *args: lambda data: None)
    assert list(body) == [b"app body"]
    spans = recorder.server_spans()
    assert len(spans) == 2
    assert {s.attributes[attr.TOKEN_ID] for s in spans if s.attributes} == {
        tokentrace.fingerprint("A" * 65536)
    }


def http_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "method": "GET", "path": "/", "raw_path": b"/", "query_string": b"",
        "headers": headers, "http_version": "1.1",
        "scheme": "http", "server": ("t", 80), "client": ("127.0.0.1", 1),
    }  # fmt: skip


def test_app_exception_passes_through_asgi_unchanged(recorder: SpanRecorder) -> None:
    failure = ValueError("the app's own failure")

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise failure

    app = tokentrace.ASGIMiddleware(failing)
    scope = http_scope([(b"authorization", b"Bearer tok")])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    with pytest.raises(ValueError, match="the app's own failure") as raised:
        asyncio.run(app(scope, receive, send))
    assert raised.value is failure
    [span] = recorder.server_spans()
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint("tok")
    assert span.status.status_code.name == "ERROR"
