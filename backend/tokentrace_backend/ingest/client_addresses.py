"""Client-address privacy (``tokentrace serve --client-ip keep|truncate|drop``): the
decoded rows' client addresses rewritten before the writer (and its journal) sees them.

Both decoders produce the same table (``storage/span_rows.py``), so this is one transform
on it, in one place (the receiver calls it between decoding and ``SpanWriter.submit``):

- ``keep`` stores addresses as they came;
- ``truncate`` stores an IPv4 address as its /24 network address (``203.0.113.7`` →
  ``203.0.113.0``) and an IPv6 one as its /48 (an IPv4-mapped IPv6 address counts as
  IPv4), the networks the new-network detector compares (``detect/networks.py``);
- ``drop`` stores none: the ``client_address`` column is NULL and the attributes are
  removed.

It rewrites the ``client_address`` column and, in the span and resource attributes (JSON
text), every attribute named in ``tokentrace.attributes.CLIENT_ADDRESS_ATTRIBUTES``
(header captures may hold several addresses, with ports or ``for=`` parameters: each
address in them is rewritten, the rest of the text is kept). A resource whose attributes
change gets the id of its new attributes (the id is a hash of them, and a hash of a /24's
256 candidates would give the address back).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from typing import Any, Final

import orjson
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from tokentrace.attributes import CLIENT_ADDRESS_ATTRIBUTES
from tokentrace_backend.settings import CLIENT_IP_CHOICES
from tokentrace_backend.storage.span_rows import DecodedSpans

KEEP, TRUNCATE, DROP = CLIENT_IP_CHOICES

IPV4_PREFIX: Final = 24
IPV6_PREFIX: Final = 48

# Runs of characters an address (and a port after it) is made of.
_ADDRESS_LIKE: Final = re.compile(r"[0-9A-Fa-f:.]+")
_PLAIN_IPV4: Final = re.compile(
    r"^([1-9]\d{0,2}|0)\.([1-9]\d{0,2}|0)\.([1-9]\d{0,2}|0)\.([1-9]\d{0,2}|0)$"
)
_IPV4_WITH_PORT: Final = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):\d+$")
# A JSON text holds one of the attributes when it holds its name as a key.
_HOLDS_ADDRESS: Final = "|".join(
    re.escape(f'"{name}"') for name in sorted(CLIENT_ADDRESS_ATTRIBUTES)
)


def truncated_address(address: str) -> str | None:
    """The network address of ``address`` (/24 or /48), or None if it is not an IP address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = IPV4_PREFIX if parsed.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)


def _truncate_match(match: re.Match[str]) -> str:
    text = match.group(0)
    plain = _PLAIN_IPV4.match(text)
    if plain is not None and max(int(octet) for octet in plain.groups()) <= 255:  # the usual case
        return f"{plain[1]}.{plain[2]}.{plain[3]}.0"
    network = truncated_address(text)
    if network is not None:
        return network
    with_port = _IPV4_WITH_PORT.match(text)
    if with_port is not None:
        network = truncated_address(with_port.group(1))
        if network is not None:
            return network + text[len(with_port.group(1)) :]
    return text


@functools.lru_cache(maxsize=65_536)  # clients come back: most values were seen before
def truncate_addresses_in(text: str) -> str:
    """``text`` with each IP address in it replaced by its network address."""
    return _ADDRESS_LIKE.sub(_truncate_match, text)


def protect_client_addresses(decoded: DecodedSpans, mode: str) -> DecodedSpans:
    """``decoded`` with its client addresses kept, truncated or dropped (``mode``)."""
    if mode == KEEP:
        return decoded
    if mode not in CLIENT_IP_CHOICES:
        raise ValueError(f"not a client-ip mode: {mode!r}")
    spans = decoded.spans
    spans = _set_column(spans, "client_address", _rewrite_column(spans, "client_address", mode))
    spans = _set_column(spans, "attributes", _rewrite_attributes(spans["attributes"], mode))
    resources = decoded.resources
    new_attributes = _rewrite_attributes(resources["attributes"], mode)
    if not new_attributes.equals(resources["attributes"]):
        resources, spans = _renumber_resources(resources, new_attributes, spans)
    return DecodedSpans(spans, resources, decoded.rejected_spans, decoded.error_message)


def _set_column(table: pa.Table, name: str, column: pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def _rewrite_column(table: pa.Table, name: str, mode: str) -> pa.ChunkedArray:
    column = table[name]
    if mode == DROP:
        return pa.chunked_array([pa.nulls(len(column), pa.string())])
    distinct = pc.unique(column).drop_null()
    if len(distinct) == 0:
        return column
    rewritten = pa.array([truncate_addresses_in(value) for value in distinct.to_pylist()])
    return pc.take(rewritten, pc.index_in(column, value_set=distinct))


def _rewrite_attributes(column: pa.ChunkedArray, mode: str) -> pa.ChunkedArray:
    """The JSON texts of ``column``, those holding an address attribute rewritten."""
    holds = pc.fill_null(pc.match_substring_regex(column, _HOLDS_ADDRESS), False)
    if not pc.any(holds).as_py():
        return column
    values = column.to_pylist()
    for index in pc.indices_nonzero(holds).to_pylist():
        values[index] = _rewrite_json(values[index], mode)
    return pa.chunked_array([pa.array(values, pa.string())])


def _rewrite_json(text: str, mode: str) -> str | None:
    attributes: dict[str, Any] = orjson.loads(text)
    for name in CLIENT_ADDRESS_ATTRIBUTES & attributes.keys():
        if mode == DROP:
            del attributes[name]
        else:
            attributes[name] = _truncate_value(attributes[name])
    return orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode() if attributes else None


def _truncate_value(value: object) -> object:
    if isinstance(value, str):
        return truncate_addresses_in(value)
    if isinstance(value, list):
        return [_truncate_value(item) for item in value]
    return value


def _renumber_resources(
    resources: pa.Table, attributes: pa.ChunkedArray, spans: pa.Table
) -> tuple[pa.Table, pa.Table]:
    """Resources with their rewritten attributes and the ids of those, spans pointing at them."""
    old_ids = resources["resource_id"].to_pylist()
    texts = [text if text is not None else "{}" for text in attributes.to_pylist()]
    new_ids = [_resource_id(text) for text in texts]
    resources = _set_column(resources, "attributes", pa.chunked_array([pa.array(texts)]))
    resources = _set_column(
        resources, "resource_id", pa.chunked_array([pa.array(new_ids, pa.uint64())])
    )
    positions = pc.index_in(spans["resource_id"], value_set=pa.array(old_ids, pa.uint64()))
    renumbered = pc.take(pa.array(new_ids, pa.uint64()), positions)
    spans = _set_column(
        spans, "resource_id", pc.if_else(pc.is_null(positions), spans["resource_id"], renumbered)
    )
    return resources, spans


def _resource_id(attributes_json: str) -> int:
    """The id a decoder gives a resource: the first 8 bytes of the BLAKE2b of its
    attributes' canonical JSON (``python_decoder._resource_row``)."""
    canonical = orjson.dumps(orjson.loads(attributes_json), option=orjson.OPT_SORT_KEYS)
    return int.from_bytes(hashlib.blake2b(canonical, digest_size=8).digest(), "big")
