"""ASGIMiddleware under a real uvicorn server: FastAPI in the three ways of being
instrumented, Starlette, record_auth from a FastAPI dependency, websocket/lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import tokentrace
from tests.library.server_spans import wait_for_server_spans
from tests.library.tokens import BEARER, JWT_EXPIRED, JWT_VALID, QUERY_KEY
from tests.loopback import serve_asgi
from tokentrace import attributes as attr
from tokentrace.testing import SpanRecorder

REVOKED = "revoked-token-123"


def require_token(request: Request) -> str:
    """The app's own auth, as a FastAPI dependency that tells tokentrace what it decided."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() or request.query_params.get("api_key", "")
    if not token:
        raise HTTPException(401, "missing token")
    if token == REVOKED:
        tokentrace.record_auth("revoked", reason=f"token {token} was revoked", owner="svc:ci")
        raise HTTPException(401, "revoked")
    tokentrace.record_auth("success", owner="user:alice", owner_type="user", scopes=["orders:read"])
    return token


def build_fastapi() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    def get_order(order_id: int, token: Annotated[str, Depends(require_token)]) -> dict[str, Any]:
        return {"order": order_id}

    @app.get("/open")
    def open_endpoint() -> dict[str, str]:
        return {"ok": "yes"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        # What the app was given: the query string and the credential header, as sent.
        await websocket.send_text(websocket.scope["query_string"].decode("latin-1"))
        await websocket.send_text(websocket.headers.get("authorization", "(none)"))
        await websocket.send_text(await websocket.receive_text())  # echo
        await websocket.send_bytes(await websocket.receive_bytes())
        await websocket.close()

    return app


@pytest.fixture
def fastapi_add_middleware() -> Iterator[str]:
    app = build_fastapi()
    app.add_middleware(tokentrace.ASGIMiddleware)
    with serve_asgi(app) as url:
        yield url


def test_fastapi_add_middleware_one_tagged_server_span(
    recorder: SpanRecorder, fastapi_add_middleware: str
) -> None:
    response = httpx.get(
        f"{fastapi_add_middleware}/orders/7", headers={"Authorization": f"Bearer {BEARER}"}
    )
    assert response.json() == {"order": 7}
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(BEARER)
    assert span.attributes[attr.TOKEN_KEY_ID] == "test-2026"
    assert span.attributes[attr.TOKEN_SCHEME] == "bearer"
    assert span.attributes[attr.TOKEN_SOURCE] == "header:authorization"
    assert span.attributes[attr.TOKEN_KIND] == "opaque"
    assert span.attributes[attr.AUTH_OUTCOME] == "success"
    assert span.attributes[attr.AUTH_OUTCOME_SOURCE] == "recorded"
    assert span.attributes[attr.TOKEN_OWNER] == "user:alice"
    assert span.attributes[attr.TOKEN_SCOPES] == ("orders:read",)
    assert span.attributes["http.route"] == "/orders/{order_id}"
    # every span of the request carries the token id
    assert {s.attributes.get(attr.TOKEN_ID) for s in recorder.spans() if s.attributes} == {
        tokentrace.fingerprint(BEARER)
    }


def test_recorded_revocation_reason_never_holds_the_token(
    recorder: SpanRecorder, fastapi_add_middleware: str
) -> None:
    response = httpx.get(
        f"{fastapi_add_middleware}/orders/1", headers={"Authorization": f"Bearer {REVOKED}"}
    )
    assert response.status_code == 401
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.AUTH_OUTCOME] == "revoked"
    assert span.attributes[attr.AUTH_REASON] == "token REDACTED was revoked"
    recorder.assert_no_raw_token(REVOKED)


def test_inferred_outcomes(recorder: SpanRecorder, fastapi_add_middleware: str) -> None:
    assert httpx.get(f"{fastapi_add_middleware}/orders/1").status_code == 401
    [missing] = wait_for_server_spans(recorder, 1)
    assert missing.attributes is not None
    assert missing.attributes[attr.AUTH_OUTCOME] == "missing"
    assert missing.attributes[attr.AUTH_OUTCOME_SOURCE] == "inferred"
    recorder.clear()
    assert (
        httpx.get(
            f"{fastapi_add_middleware}/open", headers={"Authorization": f"Bearer {JWT_EXPIRED}"}
        ).status_code
        == 200
    )
    [jwt_span] = wait_for_server_spans(recorder, 1)
    assert jwt_span.attributes is not None
    assert jwt_span.attributes[attr.TOKEN_KIND] == "jwt"
    assert jwt_span.attributes[attr.TOKEN_ISSUER] == "https://issuer.example"
    assert jwt_span.attributes[attr.TOKEN_SUBJECT] == tokentrace.fingerprint("user-43")
    assert jwt_span.attributes[attr.AUTH_OUTCOME] == "success"  # the app let it through


def test_websocket_passes_through_untouched(
    recorder: SpanRecorder, fastapi_add_middleware: str
) -> None:
    """A websocket that presents tokens (query string and header) reaches the app as sent,
    and its messages pass through unchanged both ways."""
    from websockets.sync.client import connect

    query = f"api_key={QUERY_KEY}&x=1"
    url = fastapi_add_middleware.replace("http", "ws") + f"/ws?{query}"
    binary = b"\x00\xffbinary " + BEARER.encode()
    with connect(url, additional_headers={"Authorization": f"Bearer {BEARER}"}) as socket:
        assert socket.recv() == "hello"
        assert socket.recv() == query
        assert socket.recv() == f"Bearer {BEARER}"
        socket.send(f"echo {QUERY_KEY} ?api_key={BEARER}")
        assert socket.recv() == f"echo {QUERY_KEY} ?api_key={BEARER}"
        socket.send(binary)
        assert socket.recv() == binary
    recorder.assert_no_raw_token(QUERY_KEY, BEARER)


def test_fastapi_wrapped_from_outside_one_server_span(recorder: SpanRecorder) -> None:
    app = tokentrace.ASGIMiddleware(build_fastapi())
    with serve_asgi(app) as url:
        response = httpx.get(f"{url}/orders/3?api_key={QUERY_KEY}")
    assert response.status_code == 200
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(QUERY_KEY)
    assert span.attributes[attr.TOKEN_SOURCE] == "query:api_key"
    recorder.assert_no_raw_token(QUERY_KEY)


def test_fastapi_instrumentor_span_is_tagged_not_doubled(recorder: SpanRecorder) -> None:
    app = build_fastapi()
    app.add_middleware(tokentrace.ASGIMiddleware)
    FastAPIInstrumentor.instrument_app(app)
    try:
        with serve_asgi(app) as url:
            response = httpx.get(f"{url}/orders/9?api_key={QUERY_KEY}&x=1")
        assert response.status_code == 200
        [span] = wait_for_server_spans(recorder, 1)
        assert span.instrumentation_scope is not None
        assert span.instrumentation_scope.name == "opentelemetry.instrumentation.fastapi"
        assert span.attributes is not None
        assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(QUERY_KEY)
        assert span.attributes[attr.AUTH_OUTCOME] == "success"
        recorder.assert_no_raw_token(QUERY_KEY)
    finally:
        FastAPIInstrumentor.uninstrument_app(app)


def test_fastapi_native_span_is_tagged_and_scrubbed(recorder: SpanRecorder) -> None:
    """A tokentrace-wrapped sub-app mounted in FastAPI runs inside FastAPI's own span."""
    inner = Starlette(routes=[Route("/hello", lambda request: PlainTextResponse("hi"))])
    app = FastAPI()
    app.mount("/sub", tokentrace.ASGIMiddleware(inner))
    with serve_asgi(app) as url:
        assert httpx.get(f"{url}/sub/hello?api_key={QUERY_KEY}").text == "hi"
    [span] = wait_for_server_spans(recorder, 1)
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "fastapi"
    assert span.attributes is not None
    assert span.attributes["url.query"] == "api_key=REDACTED"
    assert span.attributes[attr.TOKEN_ID] == tokentrace.fingerprint(QUERY_KEY)
    recorder.assert_no_raw_token(QUERY_KEY)


def test_starlette_app_with_jwt(recorder: SpanRecorder) -> None:
    async def whoami(request: Any) -> PlainTextResponse:
        return PlainTextResponse("me")

    app = tokentrace.ASGIMiddleware(Starlette(routes=[Route("/me", whoami)]))
    with serve_asgi(app) as url:
        assert httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {JWT_VALID}"}).text == "me"
    [span] = wait_for_server_spans(recorder, 1)
    assert span.attributes is not None
    assert span.attributes[attr.TOKEN_CLIENT_ID] == "web-app"
    assert span.attributes[attr.TOKEN_SCOPES] == ("orders:read", "orders:write")
    assert isinstance(span.attributes[attr.TOKEN_EXPIRES_AT], int)
    assert span.attributes[attr.AUTH_OUTCOME_SOURCE] == "inferred"


def test_lifespan_passes_through(recorder: SpanRecorder) -> None:
    events: list[str] = []

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            await PlainTextResponse("ok")(scope, receive, send)

    with serve_asgi(tokentrace.ASGIMiddleware(lifespan_app)) as url:
        assert httpx.get(url).text == "ok"
    assert events == ["lifespan.startup", "lifespan.shutdown"]
