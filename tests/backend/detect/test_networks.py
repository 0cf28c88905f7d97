"""Client addresses as the networks the new-network detector compares."""

from __future__ import annotations

import pytest

from tokentrace_backend.detect.networks import network_of


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("::ffff:203.0.113.7", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("[2001:db8:abcd:12::1]", "2001:db8:abcd::/48"),
        ("fe80::1%eth0", "fe80::/48"),
        ("gateway.internal", None),
        ("", None),
        (None, None),
        ("203.0.113.7:8080", None),
    ],
)
def test_an_address_becomes_its_network(address: str | None, network: str | None) -> None:
    assert network_of(address) == network
