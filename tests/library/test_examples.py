"""The README's examples run and print what the README shows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "fastapi_app.py",
            ['"tokentrace.auth.outcome": "invalid"', '"http.route": "/orders/{order_id}"'],
        ),
        ("flask_app.py", ['"http.target": "/orders?api_key=REDACTED&page=2"', '"missing"']),
    ],
)
def test_example_prints_tagged_spans(script: str, expected: list[str]) -> None:
    env = {**os.environ, "TOKENTRACE_HASH_KEY": "readme-example-key-0123456789abcdef012"}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / script)],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    for text in expected:
        assert text in result.stdout
    assert "ak_leaked_in_url" not in result.stdout
