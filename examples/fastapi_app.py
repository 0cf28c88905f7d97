"""A FastAPI service with tokentrace: the app's own auth records the outcome.

python examples/fastapi_app.py    # sends two requests in-process, prints the spans
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException

import tokentrace
from tokentrace.testing import SpanRecorder

TOKENS = {"tok_live_alice": ("user:alice", ["orders:read"])}


def authenticate(authorization: Annotated[str, Header()] = "") -> str:
    """The app decides; tokentrace records what it decided on the request span."""
    token = authorization.removeprefix("Bearer ").strip()
    if token not in TOKENS:
        tokentrace.record_auth("invalid", reason="unknown token")
        raise HTTPException(401, "unknown token")
    owner, scopes = TOKENS[token]
    tokentrace.record_auth("success", owner=owner, owner_type="user", scopes=scopes)
    return owner


app = FastAPI()
app.add_middleware(tokentrace.ASGIMiddleware)


@app.get("/orders/{order_id}")
def get_order(order_id: int, owner: Annotated[str, Depends(authenticate)]) -> dict[str, object]:
    return {"order": order_id, "owner": owner}


async def send_requests() -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        await client.get("/orders/42", headers={"Authorization": "Bearer tok_live_alice"})
        await client.get("/orders/42", headers={"Authorization": "Bearer tok_stolen"})


def main() -> None:
    recorder = SpanRecorder.install()  # in a real service: tokentrace.configure(...)
    asyncio.run(send_requests())
    for span in recorder.server_spans():
        tags = {k: v for k, v in (span.attributes or {}).items() if k.startswith("tokentrace.")}
        tags["http.route"] = (span.attributes or {}).get("http.route")
        tags["http.status_code"] = (span.attributes or {}).get("http.status_code")
        print(span.name, json.dumps(tags, indent=2, default=list))


if __name__ == "__main__":
    main()
