import pytest

import tokentrace
from tokentrace._record import parse_outcome
from tokentrace._request import infer_outcome
from tokentrace.attributes import AuthOutcome

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "has_token", "malformed", "expires_at", "expected"),
    [
        (401, False, False, None, AuthOutcome.MISSING),
        (401, False, True, None, AuthOutcome.MALFORMED),
        (401, True, False, int(NOW) - 1, AuthOutcome.EXPIRED),
        (401, True, False, int(NOW) + 60, AuthOutcome.INVALID),
        (401, True, False, None, AuthOutcome.INVALID),
        (403, True, False, None, AuthOutcome.FORBIDDEN),
        (429, True, False, None, AuthOutcome.RATE_LIMITED),
        (200, True, False, None, AuthOutcome.SUCCESS),
        (302, True, False, None, AuthOutcome.SUCCESS),
        (200, False, False, None, None),
        (404, True, False, None, None),
        (500, True, False, None, None),
    ],
)
def test_inference_rules(
    status: int,
    has_token: bool,
    malformed: bool,
    expires_at: int | None,
    expected: AuthOutcome | None,
) -> None:
    assert (
        infer_outcome(
            status, has_token=has_token, malformed=malformed, expires_at=expires_at, now=NOW
        )
        == expected
    )


def test_unknown_outcome_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        parse_outcome("nope")
    with pytest.raises(ValueError, match="unknown auth outcome"):
        tokentrace.record_auth("not-an-outcome")


def test_scope_strings_are_split_like_oauth_scope_claims() -> None:
    from tokentrace._record import scope_list

    assert scope_list("orders:read  orders:write") == ["orders:read", "orders:write"]
    assert scope_list(("a", "b")) == ["a", "b"]
