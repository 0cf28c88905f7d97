"""The alert rules file: validation errors that name the file, the rule and the field (and
never quote a secret), the example of docs/alerts.md, and which findings a rule matches."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.backend.alerts.stored_findings import FINDING, OTHER_TOKEN, TOKEN
from tokentrace import SettingsError
from tokentrace_backend.alerts import AlertRule, load_rules, parse_rules
from tokentrace_backend.detect.kinds import AnomalyKind, Severity

DOCS = Path(__file__).resolve().parents[3] / "docs" / "alerts.md"
WEBHOOK = "https://hooks.example.test/services/T000/B000/sec-path-part"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text, encoding="utf-8")
    return path


def rule(**fields: Any) -> AlertRule:
    [parsed] = parse_rules(
        {"rules": [{"name": "r", "kinds": "all", "webhook_url": WEBHOOK, **fields}]}, source="t"
    )
    return parsed


def test_the_example_of_the_docs_is_valid(tmp_path: Path) -> None:
    [example] = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    rules = load_rules(write(tmp_path, example))
    assert len(rules) >= 2
    assert {rule.name for rule in rules} >= {"security-oncall"}


def test_a_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[rules]]
name = "oncall"
kinds = ["new_network", "credential_stuffing"]
min_severity = "high"
token_ids = ["{TOKEN.upper()}"]
owners = ["svc:ci"]
webhook_url = "{WEBHOOK}"
headers = {{ Authorization = "Bearer abc" }}

[[rules]]
name = "everything"
kinds = "all"
webhook_url = "http://127.0.0.1:9000/hook"
""",
    )
    oncall, everything = load_rules(path)
    assert oncall.kinds == (AnomalyKind.NEW_NETWORK, AnomalyKind.CREDENTIAL_STUFFING)
    assert oncall.min_severity is Severity.HIGH
    assert oncall.token_ids == (TOKEN,)  # any case in, lowercase out
    assert oncall.headers == {"Authorization": "Bearer abc"}
    assert everything.min_severity is Severity.LOW
    assert (everything.token_ids, everything.owners, everything.headers) == ((), (), {})


def test_a_rule_of_lifecycle_states(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[[rules]]
name = "rotations"
lifecycle_states = ["rotated_still_used", "stale"]
owners = ["svc:ci"]
webhook_url = "{WEBHOOK}"

[[rules]]
name = "both"
kinds = "all"
lifecycle_states = ["expiring_soon"]
webhook_url = "{WEBHOOK}"
""",
    )
    rotations, both = load_rules(path)
    assert rotations.lifecycle_states == ("rotated_still_used", "stale")
    assert rotations.kinds == ()  # no finding goes to it
    assert not rotations.matches(FINDING)
    assert (both.kinds, both.lifecycle_states) == ("all", ("expiring_soon",))
    assert both.matches(FINDING)
    assert rotations.view().model_dump()["lifecycle_states"] == ["rotated_still_used", "stale"]
    assert rotations.view().model_dump()["kinds"] == []


def test_an_empty_file_has_no_rules(tmp_path: Path) -> None:
    assert load_rules(write(tmp_path, "")) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[rules]]\nname = "oncall"\nkinds = "all"\nmin_severity = "urgent"\n'
            f'webhook_url = "{WEBHOOK}"\n',
            "rule 'oncall' (rules[0]): field min_severity: Input should be 'low', 'medium', "
            "'high' or 'critical' (got 'urgent')",
        ),
        (
            f'[[rules]]\nname = "oncall"\nkinds = ["new_netwrok"]\nwebhook_url = "{WEBHOOK}"\n',
            "rule 'oncall' (rules[0]): field kinds: unknown finding kind(s) 'new_netwrok'",
        ),
        (
            f'[[rules]]\nname = "oncall"\nkinds = []\nwebhook_url = "{WEBHOOK}"\n',
            "rule 'oncall' (rules[0]): field kinds: must be \"all\" or a non-empty list",
        ),
        (
            '[[rules]]\nname = "oncall"\nwebhook_url = "https://x.test"\n',
            "rule 'oncall' (rules[0]): field kinds: Field required",
        ),
        (
            '[[rules]]\nname = "oncall"\nkinds = "all"\n',
            "rule 'oncall' (rules[0]): field webhook_url: Field required",
        ),
        (
            '[[rules]]\nkinds = "all"\nwebhook_url = "https://x.test"\n',
            "rules[0]: field name: Field required",
        ),
        (
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "ftp://x.test/h"\n',
            "rule 'a' (rules[0]): field webhook_url: must be an http:// or https:// URL",
        ),
        (
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://x.test"\nchannel = "#x"\n',
            "rule 'a' (rules[0]): field channel: unknown field",
        ),
        (
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://x.test"\n'
            'token_ids = ["abc"]\n',
            "rule 'a' (rules[0]): field token_ids: 'abc' is not a token id (32 hex characters)",
        ),
        (
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://x.test"\n'
            'owners = ["svc:ci", 7]\n',
            "rule 'a' (rules[0]): field owners[1]: Input should be a valid string (got 7)",
        ),
        (
            '[[rules]]\nname = "a"\nwebhook_url = "https://x.test"\n'
            'lifecycle_states = ["stale", "expired"]\n',
            "rule 'a' (rules[0]): field lifecycle_states: unknown lifecycle state(s) 'expired'; "
            "the states are expiring_soon, rotated_still_used, stale",
        ),
        (
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://x.test"\n'
            "lifecycle_states = []\n",
            "rule 'a' (rules[0]): field lifecycle_states: must be a non-empty list",
        ),
        (
            '[[rules]]\nname = "a"\nwebhook_url = "https://x.test"\nlifecycle_states = "stale"\n',
            "rule 'a' (rules[0]): field lifecycle_states: must be a non-empty list",
        ),
        (
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://x.test"\n'
            '[[rules]]\nname = "b"\nkinds = "all"\nwebhook_url = "https://x.test"\n'
            '[[rules]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://y.test"\n',
            "rule 'a' (rules[2]): field name: the name is already used by rules[0]",
        ),
        (
            '[[rule]]\nname = "a"\nkinds = "all"\nwebhook_url = "https://x.test"\n',
            "unknown top-level key(s) rule (expected [[rules]])",
        ),
        ('rules = "all"\n', "rules must be an array of tables: [[rules]]"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_file_the_rule_and_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert message.startswith(f"alert rules file {path} is invalid:\n")
    assert expected in message


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[rules]]\nname = "a"\nkinds = "all"\nmin_severity = "huge"\nwebhook_url = "x"\n'
        '[[rules]]\nname = "b"\nkinds = ["nope"]\nwebhook_url = "https://x.test"\n',
    )
    with pytest.raises(SettingsError) as raised:
        load_rules(path)
    lines = str(raised.value).splitlines()[1:]
    assert [line.split(": field ")[0].strip() for line in lines] == [
        "rule 'a' (rules[0])",
        "rule 'a' (rules[0])",
        "rule 'b' (rules[1])",
    ]


def test_secrets_are_never_quoted_in_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[rules]]\nname = "a"\nkinds = "all"\n'
        'webhook_url = "gopher://user:pw-s3cr3t@x.test/path-s3cr3t"\n'
        'headers = { Authorization = "Bearer header-s3cr3t\\n", "Bad Name" = "v" }\n',
    )
    with pytest.raises(SettingsError) as raised:
        load_rules(path)
    message = str(raised.value)
    assert "field webhook_url" in message
    assert "field headers" in message
    assert "s3cr3t" not in message


def test_an_unreadable_or_malformed_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(SettingsError, match=f"cannot read the alert rules file {missing}"):
        load_rules(missing)
    broken = write(tmp_path, '[[rules]]\nname = "a\n')
    with pytest.raises(
        SettingsError, match=rf"alert rules file {broken} is not valid TOML: .*line 2"
    ):
        load_rules(broken)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XyZsecret", "https://hooks.slack.com/…"),
        (
            "https://user:pw@alerts.example.test:8443/hook?token=abc#x",
            "https://alerts.example.test:8443/…",
        ),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_the_webhook_is_shown_without_its_secrets(url: str, shown: str) -> None:
    assert rule(webhook_url=url).shown_webhook == shown
    view = rule(webhook_url=url, headers={"X-Secret": "h"}).view().model_dump_json()
    assert shown in view
    for secret in ("XyZsecret", "pw@", "token=abc", "X-Secret", "8443/hook", "/services"):
        assert secret not in view


@pytest.mark.parametrize(
    ("fields", "changes", "matches"),
    [
        ({}, {}, True),
        ({"kinds": ["new_network"]}, {}, True),
        ({"kinds": ["burst", "error_spike"]}, {}, False),
        ({"min_severity": "high"}, {}, True),
        ({"min_severity": "critical"}, {}, False),
        ({"min_severity": "medium"}, {"severity": "low"}, False),
        ({"min_severity": "critical"}, {"severity": "apocalyptic"}, True),  # fail open
        ({"token_ids": [TOKEN]}, {}, True),
        ({"token_ids": [OTHER_TOKEN]}, {}, False),
        ({"owners": ["svc:ci"]}, {}, True),
        ({"owners": ["svc:other"]}, {}, False),
        ({"owners": ["svc:ci"]}, {"owner": None}, False),
        ({"token_ids": [OTHER_TOKEN], "owners": ["svc:ci"]}, {}, True),  # either selects
        ({"token_ids": [TOKEN]}, {"token_id": None, "owner": None}, False),
        ({"kinds": ["new_network"], "min_severity": "high", "owners": ["svc:ci"]}, {}, True),
    ],
)
def test_which_findings_a_rule_matches(
    fields: dict[str, Any], changes: dict[str, Any], matches: bool
) -> None:
    assert rule(**fields).matches(replace(FINDING, **changes)) is matches


@pytest.mark.parametrize(
    ("fields", "state", "token_id", "owner", "matches"),
    [
        ({"lifecycle_states": ["stale"]}, "stale", TOKEN, "svc:ci", True),
        ({"lifecycle_states": ["stale"]}, "expiring_soon", TOKEN, "svc:ci", False),
        ({"lifecycle_states": ["stale", "expiring_soon"]}, "expiring_soon", TOKEN, None, True),
        ({}, "stale", TOKEN, "svc:ci", False),  # a rule of findings only
        ({"lifecycle_states": ["stale"], "token_ids": [TOKEN]}, "stale", TOKEN, None, True),
        ({"lifecycle_states": ["stale"], "token_ids": [OTHER_TOKEN]}, "stale", TOKEN, None, False),
        ({"lifecycle_states": ["stale"], "owners": ["svc:ci"]}, "stale", TOKEN, "svc:ci", True),
        ({"lifecycle_states": ["stale"], "owners": ["svc:ci"]}, "stale", TOKEN, None, False),
        (
            {"lifecycle_states": ["stale"], "token_ids": [OTHER_TOKEN], "owners": ["svc:ci"]},
            "stale",
            TOKEN,
            "svc:ci",
            True,
        ),
        # min_severity is about findings only
        ({"lifecycle_states": ["stale"], "min_severity": "critical"}, "stale", TOKEN, None, True),
    ],
)
def test_which_lifecycle_states_a_rule_matches(
    fields: dict[str, Any], state: str, token_id: str, owner: str | None, matches: bool
) -> None:
    assert rule(**fields).matches_lifecycle(state, token_id, owner) is matches
