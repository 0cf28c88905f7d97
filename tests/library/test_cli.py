import hashlib
import hmac
import subprocess
import sys

import pytest

from tokentrace.cli import BACKEND_COMMANDS, build_parser, main

HASH_KEY = "cli-test-key-" + "k" * 32


def expected_token_id(key: str, token: str) -> str:
    """The token id by its definition (docs/library.md): the first 16 bytes of
    HMAC-SHA256(key, token), in hex, computed here without tokentrace."""
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).digest()[:16].hex()


def run_hash(
    *arguments: str, stdin: str | None = None, key_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`tokentrace hash ...` in a fresh process whose only key is HASH_KEY."""
    env = {"TOKENTRACE_HASH_KEY": HASH_KEY, "PATH": "/usr/bin"}
    if key_id is not None:
        env["TOKENTRACE_HASH_KEY_ID"] = key_id
    script = "import sys; from tokentrace.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", script, "hash", *arguments],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: tokentrace")
    assert "hash" in out and "fingerprint a token" in out


def test_hash_prints_the_token_id_and_never_the_token() -> None:
    token = "sk_live_cli_7Qx9-token"
    hashed = run_hash(token)
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout == expected_token_id(HASH_KEY, token) + "\n"
    assert token not in hashed.stdout + hashed.stderr
    # Another token, another id; the same token under another key, another id.
    assert run_hash(token + "2").stdout != hashed.stdout


def test_hash_reads_stdin_and_names_the_key_id() -> None:
    token = "stdin-token-5d2e"
    hashed = run_hash("--key-id", stdin=token + "\n", key_id="cli-2026")
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout == f"{expected_token_id(HASH_KEY, token)}  key_id=cli-2026\n"
    assert token not in hashed.stdout + hashed.stderr
    derived = run_hash("--key-id", stdin=token + "\n")
    key_id = hmac.new(HASH_KEY.encode(), b"tokentrace key id", hashlib.sha256).hexdigest()[:8]
    assert derived.stdout == f"{expected_token_id(HASH_KEY, token)}  key_id={key_id}\n"
    empty = run_hash(stdin="\n")
    assert empty.returncode == 2
    assert empty.stdout == ""
    assert "no token given" in empty.stderr


def test_the_hint_names_every_command_the_backend_adds() -> None:
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    registered = set(subparsers.choices)  # type: ignore[attr-defined]
    assert registered == {"hash", *BACKEND_COMMANDS}


def test_without_the_backend_extra_its_commands_say_how_to_get_it() -> None:
    """A missing dependency of the backend (here: httpx, hidden from the import system)
    gives its commands a hint; `tokentrace hash` still works."""
    script = (
        "import sys; sys.modules['httpx'] = None\n"
        "from tokentrace.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    missing = subprocess.run(
        [sys.executable, "-c", script, "serve"], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert "the backend is not installed (no module 'httpx')" in missing.stderr
    hashed = subprocess.run(
        [sys.executable, "-c", script, "hash", "t0ken"],
        capture_output=True,
        text=True,
        check=False,
        env={"TOKENTRACE_HASH_KEY": "k" * 32, "PATH": "/usr/bin"},
    )
    assert hashed.returncode == 0, hashed.stderr
    assert hashed.stdout == expected_token_id("k" * 32, "t0ken") + "\n"
