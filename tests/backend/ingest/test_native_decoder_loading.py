"""Which decoder the backend takes when the native package is missing, broken or stale.

A stand-in ``tokentrace_otlp_native`` module put first on PYTHONPATH plays the broken
build, in a child process (the real one may already be imported in this one).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backend.ingest.serve_process import TOKENTRACE
from tokentrace_backend.scenario.processes import free_port

# Not installed at all (what importing an absent module raises).
_MISSING = """
raise ModuleNotFoundError(
    "No module named 'tokentrace_otlp_native'", name="tokentrace_otlp_native"
)
"""
# A build that does not load: what a wheel for another Python or a missing symbol raises.
_UNLOADABLE = 'raise ImportError("undefined symbol: PyUnicode_DecodeFSDefaultX")\n'
# A build of another version: its constructor does not take this backend's layout.
_STALE = """
class SpanDecoder:
    def __init__(self, *, column_names, promoted):
        raise AssertionError("not reached: the keywords do not match")
"""

_CHOOSE = """
import sys
from tokentrace_backend.ingest.decoding import choose_decoder
from tokentrace import SettingsError
try:
    print(choose_decoder(sys.argv[1], None).name)
except SettingsError as error:
    print("SettingsError:", error)
"""


def _stand_in(tmp_path: Path, source: str) -> dict[str, str]:
    (tmp_path / "tokentrace_otlp_native.py").write_text(source)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _choose(env: dict[str, str], requested: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CHOOSE, requested],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )


@pytest.mark.parametrize("build", ["unloadable", "stale"])
def test_a_broken_native_build_falls_back_to_python_with_a_warning(
    tmp_path: Path, build: str
) -> None:
    env = _stand_in(tmp_path, _UNLOADABLE if build == "unloadable" else _STALE)
    chosen = _choose(env, "auto")
    assert chosen.stdout.strip() == "python"
    assert "using the Python span decoder" in chosen.stderr
    assert "reinstall it" in chosen.stderr
    assert _choose(env, "python").stdout.strip() == "python"


@pytest.mark.parametrize(
    ("build", "reason"),
    [("unloadable", "does not load (undefined symbol"), ("stale", "does not fit this backend")],
)
def test_a_broken_native_build_is_refused_when_native_is_required(
    tmp_path: Path, build: str, reason: str
) -> None:
    env = _stand_in(tmp_path, _UNLOADABLE if build == "unloadable" else _STALE)
    chosen = _choose(env, "native")
    assert chosen.stdout.startswith("SettingsError: TOKENTRACE_DECODER=native")
    assert reason in chosen.stdout
    # Built from the checkout: the package is not on any index, where anyone could take
    # its name.
    assert "pip install ./native" in chosen.stdout
    assert "pip install tokentrace-otlp-native" not in chosen.stdout


def test_serve_with_a_stale_native_build_stops_at_start(tmp_path: Path) -> None:
    env = _stand_in(tmp_path, _STALE)
    result = subprocess.run(
        [
            *(TOKENTRACE, "serve", "--db", str(tmp_path / "x.duckdb")),
            *("--port", str(free_port()), "--otlp-port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        env={**env, "TOKENTRACE_DECODER": "native"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "does not fit this backend" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_the_native_package_auto_takes_python_quietly_and_native_refuses(
    tmp_path: Path,
) -> None:
    env = _stand_in(tmp_path, _MISSING)
    chosen = _choose(env, "auto")
    assert chosen.stdout.strip() == "python"
    assert chosen.stderr == ""
    refused = _choose(env, "native").stdout
    assert refused.startswith("SettingsError: TOKENTRACE_DECODER=native")
    assert "it is not installed: pip install ./native" in refused


_REFUSES_THE_LAYOUT = """
class SpanDecoder:
    def __init__(self, **layout):
        raise ValueError('the span schema has no column "events"')
"""

_DECODE_DIRECTLY = """
from tokentrace_backend.ingest.errors import MalformedSpans
from tokentrace_backend.ingest.native_decoder import decode_spans_native
try:
    decode_spans_native(b"")
except MalformedSpans as error:
    print("MalformedSpans:", error)
except ValueError as error:
    print("ValueError:", error)
"""


def test_a_build_that_refuses_the_layout_is_not_blamed_on_the_request(tmp_path: Path) -> None:
    # A worker process decodes without choose_decoder's start-up check; MalformedSpans
    # would answer 400, which tells the exporter to drop the spans, for a server fault.
    env = _stand_in(tmp_path, _REFUSES_THE_LAYOUT)
    decoded = subprocess.run(
        [sys.executable, "-c", _DECODE_DIRECTLY],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert decoded.stdout.startswith("ValueError: the span schema has no column")
