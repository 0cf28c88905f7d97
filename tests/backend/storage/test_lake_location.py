"""A lake's location in messages: never the catalog's password, as written or decoded."""

from __future__ import annotations

import pytest

from tokentrace_backend.storage.lake.location import LakeLocation


def test_the_password_is_hidden_from_the_location_and_from_errors() -> None:
    location = LakeLocation(
        "postgresql://tokentrace:s%40cret-pw@db.internal:5432/lake", "/mnt/lake"
    )
    assert (
        location.shown() == "lake postgresql://tokentrace:***@db.internal:5432/lake, data /mnt/lake"
    )
    error = "could not connect with password s@cret-pw (postgresql://tokentrace:s%40cret-pw@db)"
    scrubbed = location.scrubbed(error)
    assert "s@cret-pw" not in scrubbed
    assert "s%40cret-pw" not in scrubbed
    assert scrubbed.count("***") == 2


def test_a_location_without_a_password_is_shown_as_it_is() -> None:
    location = LakeLocation("postgresql://tokentrace@db.internal:5432/lake", "/mnt/lake")
    assert location.shown() == "lake postgresql://tokentrace@db.internal:5432/lake, data /mnt/lake"
    assert location.scrubbed("tokentrace@db.internal refused") == "tokentrace@db.internal refused"


@pytest.mark.parametrize(
    ("catalog", "data_path"),
    [("postgresql://u@h/db' ; DROP", "/mnt"), ("postgresql://u@h/db", "/mnt/it's")],
)
def test_quotes_cannot_reach_the_attach_statement(catalog: str, data_path: str) -> None:
    with pytest.raises(ValueError, match="quotes"):
        LakeLocation(catalog, data_path)
