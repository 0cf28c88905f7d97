"""The scenario's ``gateway``: a FastAPI app that authenticates API tokens and calls ``orders``.

Its auth is the app's own (the scenario token table); it tells tokentrace the outcome with
``tokentrace.record_auth``. Downstream calls go through an httpx client instrumented by
OpenTelemetry, so the trace context and the token id (W3C baggage) reach ``orders``.

Run it: ``python -m tokentrace_backend.scenario.gateway --port P --orders-url URL``
(exports OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

import tokentrace
from tokentrace_backend.scenario.service_runtime import serve_asgi, setup_tracing
from tokentrace_backend.scenario.tokens import READ, WRITE, ScenarioToken, lookup, token_by_name

SERVICE_NAME = "gateway"


def _presented_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential:
        return credential.strip()
    if scheme.lower() == "basic" and credential:
        try:
            return base64.b64decode(credential.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return credential
    return request.headers.get("x-api-key") or request.query_params.get("api_key")


def authenticate(request: Request) -> ScenarioToken:
    """The gateway's own auth: find the token, decide, and tell tokentrace the outcome."""
    raw = _presented_token(request)
    token = lookup(raw) if raw else None
    if token is None:
        tokentrace.record_auth("missing" if raw is None else "invalid", reason="unknown token")
        raise HTTPException(status_code=401, detail="unknown or missing token")
    identity: dict[str, Any] = {
        "owner": token.owner,
        "owner_type": token.owner_type,
        "name": token.name,
        "scopes": list(token.scopes),
    }
    if token.verdict == "expired":
        tokentrace.record_auth("expired", reason="exp in the past", **identity)
        raise HTTPException(status_code=401, detail="token expired")
    if token.verdict == "revoked":
        tokentrace.record_auth("revoked", reason="revoked by its owner", **identity)
        raise HTTPException(status_code=401, detail="token revoked")
    needed = [WRITE] if request.method == "POST" else [READ]
    if not set(needed) <= set(token.scopes):
        tokentrace.record_auth(
            "insufficient_scope", reason="missing orders:write", required_scopes=needed, **identity
        )
        raise HTTPException(status_code=403, detail="insufficient scope")
    reason = "rotated; accepted during the grace period" if token.verdict == "rotated" else None
    tokentrace.record_auth("success", reason=reason, required_scopes=needed, **identity)
    return token


Caller = Annotated[ScenarioToken, Depends(authenticate)]


def _orders_answer(response: httpx.Response) -> Any:
    """What orders answered, or a 502 if orders failed."""
    if response.status_code >= 500:
        raise HTTPException(status_code=502, detail="orders service failed")
    return response.json()


def create_app(orders_url: str) -> FastAPI:
    """The gateway app, calling the orders service at ``orders_url``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=orders_url, timeout=10.0) as client:
            HTTPXClientInstrumentor.instrument_client(client)
            app.state.orders = client
            yield

    app = FastAPI(title="scenario gateway", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/orders")
    async def list_orders(request: Request, caller: Caller) -> Any:
        orders: httpx.AsyncClient = request.app.state.orders
        return _orders_answer(await orders.get("/orders", params={"owner": caller.owner}))

    @app.post("/api/orders")
    async def create_order(request: Request, caller: Caller) -> Any:
        orders: httpx.AsyncClient = request.app.state.orders
        body = {"owner": caller.owner, "item": "widget"}
        return _orders_answer(await orders.post("/orders", json=body))

    # cast: starlette's middleware-factory protocol wants a positional-only `app` parameter.
    # exclude_spans: no internal spans per ASGI send/receive message, only the request.
    app.add_middleware(cast("Any", tokentrace.ASGIMiddleware), exclude_spans=["receive", "send"])
    return app


def record_rotation() -> None:
    """The scenario's lifecycle history: erin's old token was rotated to a new one."""
    old, new = token_by_name("rotated-old"), token_by_name("rotated-new")
    tokentrace.record_lifecycle("created", token=old.raw, actor="erin@example.test")
    tokentrace.record_lifecycle(
        "rotated", token=old.raw, new_token=new.raw, actor="ops@example.test"
    )
    # Keep the lifecycle spans apart in time from the requests that follow.
    time.sleep(0.01)


def main(argv: list[str] | None = None) -> None:
    """Run the gateway under uvicorn until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--orders-url", required=True)
    args = parser.parse_args(argv)
    setup_tracing(SERVICE_NAME)
    record_rotation()
    serve_asgi(create_app(args.orders_url), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
