import hashlib
import hmac
import logging
import subprocess
import sys

import pytest

import tokentrace
from tokentrace._fingerprint import Fingerprinter, from_environment

KEY = "test-key-0123456789abcdef0123456789abcdef"


def test_fingerprint_is_the_first_16_bytes_of_hmac_sha256_in_hex() -> None:
    expected = hmac.new(KEY.encode(), b"my-token", hashlib.sha256).hexdigest()[:32]
    assert tokentrace.fingerprint("my-token") == expected
    assert len(expected) == 32


def test_cached_and_fresh_fingerprints_agree() -> None:
    fingerprinter = Fingerprinter(b"k" * 32, "k1")
    first = fingerprinter.fingerprint("repeat-me")
    assert fingerprinter.fingerprint("repeat-me") == first
    for number in range(5000):  # push the first one out of the cache
        fingerprinter.fingerprint(f"filler-{number}")
    assert fingerprinter.fingerprint("repeat-me") == first


def test_hash_command_gives_the_same_value_as_the_library() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tokentrace.cli", "hash"],
        input="my-token\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == tokentrace.fingerprint("my-token")


def test_no_key_means_a_random_key_and_one_clear_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tokentrace"):
        first = from_environment({})
        second = from_environment({})
    assert first.fingerprint("t") != second.fingerprint("t")
    assert first.key_id.startswith("ephemeral-")
    assert "will not match across processes" in caplog.text


def test_short_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tokentrace"):
        fingerprinter = from_environment({"TOKENTRACE_HASH_KEY": "short"})
    assert "at least 32" in caplog.text
    assert "short" not in caplog.text.replace("short-", "")  # the key itself is not logged
    assert len(fingerprinter.fingerprint("t")) == 32


def test_key_id_comes_from_the_environment_or_is_derived_without_revealing_the_key() -> None:
    named = from_environment({"TOKENTRACE_HASH_KEY": KEY, "TOKENTRACE_HASH_KEY_ID": "2026-q4"})
    derived = from_environment({"TOKENTRACE_HASH_KEY": KEY})
    assert named.key_id == "2026-q4"
    assert len(derived.key_id) == 8
    assert derived.key_id not in KEY


def test_hash_command_refuses_to_run_without_a_key() -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "TOKENTRACE_HASH_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "tokentrace.cli", "hash", "t"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "TOKENTRACE_HASH_KEY is not set" in result.stderr


def test_hash_command_prints_the_key_id() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tokentrace.cli", "hash", "--key-id", "my-token"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.split() == [tokentrace.fingerprint("my-token"), "key_id=test-2026"]
