"""The dashboard: a single page at ``/`` over the correlation API, assets under ``/assets``.

Everything it needs ships in this package (``static/``: the page, its scripts and styles,
and the vendored uPlot chart library): no CDN, no build step. The page only talks to this
server (``/api``), signs in with the API key through ``POST /api/session`` when one is
configured (the key never goes in a URL), and puts every value it shows into the page as
text, never as markup. Its Content Security Policy allows scripts, styles and connections
to this origin only, so that injected markup stays inert even if that rule were broken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR: Final = Path(__file__).parent / "static"

DASHBOARD_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidated (ETag): an upgrade shows at the next load
}


class _Assets(StaticFiles):
    """The static files, with the dashboard's headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(DASHBOARD_HEADERS)
        return response


def _page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=DASHBOARD_HEADERS)


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard on ``app``: the page at ``/``, its files under ``/assets``."""
    app.add_api_route("/", _page, methods=["GET"], include_in_schema=False)
    app.mount("/assets", _Assets(directory=STATIC_DIR), name="dashboard-assets")
