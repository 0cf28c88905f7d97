"""The dashboard's files as the server hands them out (dashboard/): the page and its
assets from the package, with a Content Security Policy that allows only this origin; no
script of ours writes markup; every module it imports ships."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum

import httpx
import pytest

from tests.loopback import serve_asgi
from tokentrace.attributes import AuthOutcome
from tokentrace_backend.api import create_api_app
from tokentrace_backend.audit import RecordKind
from tokentrace_backend.dashboard import STATIC_DIR
from tokentrace_backend.detect import AnomalyKind
from tokentrace_backend.storage import Database

OUR_SCRIPTS = sorted((STATIC_DIR / "js").rglob("*.js"))
# Ways a script turns a string into markup or code; our scripts build nodes with text only.
MARKUP_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
    r"createContextualFragment|srcdoc"
)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = Database(tmp_path_factory.mktemp("dashboard") / "spans.duckdb")
    try:
        with serve_asgi(create_api_app(database, api_key="k"), lifespan="off") as served:
            yield served
    finally:
        database.close()


def test_the_page_is_served_with_a_same_origin_policy(url: str) -> None:
    response = httpx.get(url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert 'src="/assets/js/app.js"' in response.text
    assert "http://" not in response.text and "https://" not in response.text  # no CDN


def test_the_page_needs_no_key_but_its_data_does(url: str) -> None:
    assert httpx.get(url + "/").status_code == 200
    assert httpx.get(url + "/assets/js/app.js").status_code == 200
    assert httpx.get(url + "/api/tokens").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/assets/js/app.js",
        "/assets/dashboard.css",
        "/assets/vendor/uPlot.iife.min.js",
        "/assets/vendor/uPlot.min.css",
    ],
)
def test_assets_ship_in_the_package(url: str, path: str) -> None:
    response = httpx.get(url + path)
    assert response.status_code == 200
    kind = "javascript" if path.endswith(".js") else "css"
    assert kind in response.headers["content-type"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path", ["/assets/../__init__.py", "/assets/%2e%2e/__init__.py", "/assets/nothing.js"]
)
def test_nothing_outside_the_assets_is_served(url: str, path: str) -> None:
    response = httpx.get(url + path)
    assert response.status_code == 404
    assert "STATIC_DIR" not in response.text


def test_our_scripts_never_write_markup() -> None:
    assert len(OUR_SCRIPTS) >= 8
    for script in OUR_SCRIPTS:
        found = MARKUP_SINKS.findall(script.read_text("utf-8"))
        assert found == [], f"{script.name} uses {found}"


def test_every_imported_module_ships() -> None:
    for script in OUR_SCRIPTS:
        for imported in re.findall(r'from "(\.[^"]+)"', script.read_text("utf-8")):
            assert (script.parent / imported).resolve().is_file(), (script.name, imported)


def test_the_vendored_chart_library_keeps_its_licence() -> None:
    licence = (STATIC_DIR / "vendor" / "uPlot.LICENSE").read_text("utf-8")
    assert "MIT" in licence or "Permission is hereby granted" in licence
    readme = (STATIC_DIR / "vendor" / "README.md").read_text("utf-8")
    assert "1.6.32" in readme


def _js_list(script: str, name: str) -> list[str]:
    text = (STATIC_DIR / "js" / script).read_text("utf-8")
    match = re.search(rf"const {name} = \[(.*?)\];", text, re.DOTALL)
    assert match is not None, (script, name)
    return re.findall(r'"([^"]+)"', match.group(1))


@pytest.mark.parametrize(
    ("script", "name", "vocabulary"),
    [
        ("views/findings.js", "KINDS", AnomalyKind),
        ("views/audit.js", "KINDS", RecordKind),
        ("views/tokens.js", "OUTCOMES", AuthOutcome),
    ],
)
def test_the_filters_offer_the_backends_whole_vocabulary(
    script: str, name: str, vocabulary: type[StrEnum]
) -> None:
    # The page's filter lists are written out in JS; a kind added in Python must show.
    assert _js_list(script, name) == [member.value for member in vocabulary]
