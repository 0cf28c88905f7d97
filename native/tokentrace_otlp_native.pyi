"""Type stubs of the compiled module (see src/lib.rs)."""

# (null_count, validity bitmap or None, 32-bit offsets or None, values), in Arrow layout.
ColumnBuffers = tuple[int, bytes | None, bytes | None, bytes]
# (resource_id, service_name, service_version, attributes JSON)
ResourceRow = tuple[int, str, str | None, str]

class SpanDecoder:
    def __init__(
        self,
        *,
        column_names: list[str],
        column_types: list[str],
        promoted: dict[str, tuple[int, bool]],
        status_column: int,
        path_column: int,
        credential_headers: list[str],
        header_prefixes: list[str],
        redacted: str,
        query_attributes: list[str],
        url_attributes: list[str],
        url_headers: list[str],
        query_params: list[str],
        redacted_param: str,
        max_repeated_resource_bytes: int,
        max_column_bytes: int = ...,
    ) -> None: ...
    def decode(
        self, body: bytes
    ) -> tuple[int, list[ColumnBuffers], list[ResourceRow], int, str]: ...
