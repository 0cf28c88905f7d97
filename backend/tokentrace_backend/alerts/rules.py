"""Alert rules: which findings and which lifecycle states go to which webhook. Read from a
TOML file (``serve --alerts FILE`` or ``TOKENTRACE_ALERTS``) and validated when the server
starts, so that a typo stops the start with a message naming the file, the rule and the
field (docs/alerts.md)::

    [[rules]]
    name = "oncall"                      # unique; deliveries are recorded under it
    kinds = ["new_network"]              # finding kinds, or "all"
    min_severity = "high"                # low < medium < high < critical (default low)
    lifecycle_states = ["rotated_still_used"]   # tokens entering these states
    token_ids = ["0123...cdef"]          # optional: only these tokens...
    owners = ["svc:ci"]                  # ...or the tokens of these owners
    webhook_url = "https://hooks.slack.com/services/..."
    headers = { Authorization = "Bearer ..." }   # optional; never shown nor logged

A rule names ``kinds``, ``lifecycle_states`` or both; ``min_severity`` is about findings
only, ``token_ids`` and ``owners`` select both.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from tokentrace import SettingsError
from tokentrace_backend.detect.kinds import AnomalyKind, Severity
from tokentrace_backend.queries.lifecycle_states import LIFECYCLE_STATES, LifecycleState

from .findings import FindingFacts
from .results import RuleView

_TOKEN_ID: Final = re.compile(r"^[0-9a-fA-F]{32}$")
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Fields whose values may be quoted back in an error: not the URL (a Slack webhook's path
# is its secret) and not the headers.
_QUOTABLE: Final = frozenset(
    {"name", "kinds", "min_severity", "token_ids", "owners", "lifecycle_states"}
)
_NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class AlertRule(BaseModel):
    """One rule of the file; :meth:`matches` decides whether a finding is sent to it,
    :meth:`matches_lifecycle` whether a token entering a lifecycle state is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
    # Before kinds, which may be left out when this names a state (the validator of kinds
    # sees the states validated).
    lifecycle_states: tuple[LifecycleState, ...] = ()
    # () only when left out: a rule of lifecycle states alone.
    kinds: Literal["all"] | tuple[AnomalyKind, ...] = Field(default=(), validate_default=True)
    min_severity: Severity = Severity.LOW
    token_ids: tuple[str, ...] = ()
    owners: tuple[_NonEmpty, ...] = ()
    webhook_url: str
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("kinds", mode="before")
    @classmethod
    def _all_or_some_kinds(cls, kinds: Any, info: ValidationInfo) -> Any:
        # One message for both forms, rather than one per branch of the union.
        if kinds == "all":
            return kinds
        if kinds == ():  # left out (the default): fine when the rule names states
            if info.data.get("lifecycle_states") or "lifecycle_states" not in info.data:
                return kinds  # (not in data: the states were invalid, reported already)
            raise PydanticCustomError(
                "missing", "Field required (or lifecycle_states: a rule names either or both)"
            )
        if not isinstance(kinds, list | tuple) or not kinds:
            raise ValueError('must be "all" or a non-empty list of finding kinds')
        known = {kind.value for kind in AnomalyKind}
        unknown = [kind for kind in kinds if not isinstance(kind, str) or kind not in known]
        if unknown:
            raise ValueError(
                f"unknown finding kind(s) {', '.join(map(repr, unknown))}; "
                f"the kinds are {', '.join(sorted(known))}"
            )
        return tuple(AnomalyKind(kind) for kind in kinds)

    @field_validator("token_ids")
    @classmethod
    def _token_ids(cls, token_ids: tuple[str, ...]) -> tuple[str, ...]:
        for token_id in token_ids:
            if not _TOKEN_ID.match(token_id):
                raise ValueError(f"{token_id!r} is not a token id (32 hex characters)")
        return tuple(token_id.lower() for token_id in token_ids)

    @field_validator("lifecycle_states", mode="before")
    @classmethod
    def _some_states(cls, states: Any) -> Any:
        if not isinstance(states, list | tuple) or not states:
            raise ValueError("must be a non-empty list of lifecycle states (or left out)")
        unknown = [state for state in states if state not in LIFECYCLE_STATES]
        if unknown:
            raise ValueError(
                f"unknown lifecycle state(s) {', '.join(map(repr, unknown))}; "
                f"the states are {', '.join(LIFECYCLE_STATES)}"
            )
        return tuple(states)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            raise ValueError("not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if "\r" in value or "\n" in value:
                raise ValueError(f"the value of header {name!r} contains a line break")
        return headers

    def matches(self, finding: FindingFacts) -> bool:
        """Whether ``finding`` is sent to this rule: its kind is one of ``kinds``, its
        severity at least ``min_severity``, and, when the rule names tokens or owners, its
        token is one of ``token_ids`` or belongs to one of ``owners``."""
        if self.kinds != "all" and finding.kind not in self.kinds:
            return False
        if finding.severity_rank < self.min_severity.rank:
            return False
        return self._selects(finding.token_id, finding.owner)

    def matches_lifecycle(self, state: str, token_id: str, owner: str | None) -> bool:
        """Whether a token entering ``state`` is sent to this rule: the state is one of
        ``lifecycle_states`` and, when the rule names tokens or owners, the token is one of
        ``token_ids`` or belongs to one of ``owners``."""
        return state in self.lifecycle_states and self._selects(token_id, owner)

    def _selects(self, token_id: str | None, owner: str | None) -> bool:
        if not self.token_ids and not self.owners:
            return True
        return (token_id is not None and token_id in self.token_ids) or (
            owner is not None and owner in self.owners
        )

    def view(self) -> RuleView:
        """The rule as the API shows it."""
        return RuleView(
            name=self.name,
            kinds=self.kinds if self.kinds == "all" else [kind.value for kind in self.kinds],
            min_severity=self.min_severity.value,
            lifecycle_states=list(self.lifecycle_states),
            token_ids=list(self.token_ids),
            owners=list(self.owners),
            webhook=self.shown_webhook,
        )

    @property
    def shown_webhook(self) -> str:
        """The webhook as the API shows it: scheme, host and port only. Credentials, query
        and path stay hidden, because chat webhooks (Slack, Teams, Discord) carry their
        secret in the path."""
        return shown_url(self.webhook_url)


def shown_url(value: str) -> str:
    """``https://hooks.slack.com/…`` for ``https://hooks.slack.com/services/T0/B0/secret``."""
    url = httpx.URL(value)
    port = f":{url.port}" if url.port is not None else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    hidden = "/…" if url.raw_path not in (b"", b"/") else ""
    return f"{url.scheme}://{host}{port}{hidden}"


def load_rules(path: Path) -> tuple[AlertRule, ...]:
    """The rules of the TOML file at ``path``, validated.

    Raises :class:`tokentrace.SettingsError` naming the file, and for each problem the rule
    (by name and position) and the field.
    """
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise SettingsError(f"cannot read the alert rules file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"alert rules file {path} is not valid TOML: {error}") from None
    return parse_rules(document, source=str(path))


def parse_rules(document: Mapping[str, Any], *, source: str) -> tuple[AlertRule, ...]:
    """The rules of an already parsed document (``{"rules": [{...}, ...]}``)."""
    problems: list[str] = []
    unknown = sorted(set(document) - {"rules"})
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(unknown)} (expected [[rules]])")
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        problems.append("rules must be an array of tables: [[rules]]")
        raw_rules = []
    rules: list[AlertRule] = []
    first_of_name: dict[str, int] = {}
    for position, raw in enumerate(raw_rules):
        label = _rule_label(raw, position)
        try:
            rule = AlertRule.model_validate(raw)
        except ValidationError as error:
            problems += [f"{label}: {_describe(detail)}" for detail in error.errors()]
            continue
        if rule.name in first_of_name:
            problems.append(
                f"{label}: field name: the name is already used by "
                f"rules[{first_of_name[rule.name]}]"
            )
            continue
        first_of_name[rule.name] = position
        rules.append(rule)
    if problems:
        raise SettingsError(
            f"alert rules file {source} is invalid:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return tuple(rules)


def _rule_label(raw: Mapping[str, Any], position: int) -> str:
    name = raw.get("name")
    if isinstance(name, str) and name.strip():
        return f"rule {name!r} (rules[{position}])"
    return f"rules[{position}]"


def _describe(detail: Mapping[str, Any]) -> str:
    """One pydantic error as ``field kinds[1]: <message>``, quoting the value only where
    it cannot be a secret."""
    location: Sequence[str | int] = detail.get("loc", ())
    # Literal | tuple unions add the branch's name to the location ("tuple[...]"): drop it.
    location = [part for part in location if not (isinstance(part, str) and "[" in part)]
    field = str(location[0]) if location else "(rule)"
    index = "".join(f"[{part}]" for part in location[1:] if isinstance(part, int))
    message = str(detail.get("msg", "invalid")).removeprefix("Value error, ")
    if detail.get("type") == "extra_forbidden":
        message = "unknown field"
    elif field in _QUOTABLE and detail.get("type") not in ("missing", "value_error"):
        message += f" (got {detail.get('input')!r})"
    if field == "headers" and len(location) > 1:  # the location is the header's name
        index = f"[{location[1]!r}]"
    return f"field {field}{index}: {message}"
