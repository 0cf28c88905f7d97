"""With a MaxMind-format database configured, a new-network finding names the country."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter  # type: ignore[import-untyped]
from netaddr import IPSet  # type: ignore[import-untyped]

from tests.backend.detect.conftest import ingest
from tokentrace_backend.detect import Detection
from tokentrace_backend.detect.geoip import CountryLookup, GeoIpError
from tokentrace_backend.scenario.incidents import DAY_NS, HOUR_NS, Request, Traffic, export_requests
from tokentrace_backend.storage import Database

TOKEN = "dd" * 16
T0 = 1_780_000_000 * 1_000_000_000


@pytest.fixture
def countries(tmp_path: Path) -> CountryLookup:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"country": {"iso_code": "NL"}})
    writer.insert_network(IPSet(["2001:db8::/32"]), {"registered_country": {"iso_code": "JP"}})
    path = tmp_path / "countries.mmdb"
    writer.to_db_file(str(path))
    return CountryLookup(path)


def test_addresses_have_their_countries(countries: CountryLookup) -> None:
    assert countries.country_of("203.0.113.9") == "NL"
    assert countries.country_of("2001:db8::7") == "JP"
    assert countries.country_of("10.0.0.1") is None
    assert countries.country_of("not an address") is None


def test_a_file_that_is_no_database_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "countries.mmdb"
    path.write_bytes(b"not a maxmind database")
    with pytest.raises(GeoIpError, match="not a readable MaxMind database"):
        CountryLookup(path)


def _request(start_ns: int, address: str) -> Request:
    return Request(
        token_id=TOKEN,
        start_ns=start_ns,
        endpoint="GET /orders",
        outcome="success",
        client_address=address,
        user_agent="python-httpx/0.28.1",
    )


def test_a_new_network_finding_names_the_country(tmp_path: Path, countries: CountryLookup) -> None:
    history = [_request(T0 + hour * HOUR_NS, "10.4.4.4") for hour in range(5 * 24)]
    visit = [_request(T0 + 5 * DAY_NS + second * 10**9, "203.0.113.9") for second in range(3)]
    database = Database(tmp_path / "spans.duckdb")
    ingest(database, Detection(countries=countries), export_requests(Traffic(requests=history)))
    ingest(database, Detection(countries=countries), export_requests(Traffic(requests=visit)))
    with database.reader() as cursor:
        rows = cursor.execute("SELECT kind, summary, evidence->>'country' FROM findings").fetchall()
    database.close()
    assert rows == [
        (
            "new_network",
            "used from 203.0.113.9 in NL (3 requests), outside the 1 network(s) it was used "
            "from in 5 days",
            "NL",
        )
    ]
