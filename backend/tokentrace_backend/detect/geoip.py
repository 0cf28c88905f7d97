"""The country of a client address, from a MaxMind-format database (GeoLite2 / GeoIP2
Country or City, or any ``.mmdb`` with a ``country.iso_code``), when one is configured
(``TOKENTRACE_GEOIP_DB``). No database ships with tokentrace."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import maxminddb

from tokentrace import SettingsError


class GeoIpError(SettingsError):
    """The configured database cannot be read (a settings error: ``serve`` exits 2)."""


class CountryLookup:
    """ISO country codes of addresses, read from ``path`` (memory-mapped)."""

    def __init__(self, path: Path) -> None:
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
            raise GeoIpError(f"{path}: not a readable MaxMind database ({error})") from None

    def country_of(self, address: str) -> str | None:
        """``'NL'`` for an address the database places in the Netherlands; None when it
        places it nowhere (private ranges, say) or the address is not an IP address."""
        try:
            parsed = ipaddress.ip_address(address.strip("[]").partition("%")[0])
        except ValueError:
            return None
        record: Any = self._reader.get(parsed)
        if not isinstance(record, dict):
            return None
        for key in ("country", "registered_country"):
            place = record.get(key)
            if isinstance(place, dict) and isinstance(place.get("iso_code"), str):
                return str(place["iso_code"])
        return None

    def close(self) -> None:
        self._reader.close()
