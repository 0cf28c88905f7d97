"""Which span decoder ingest uses: the compiled one when it is installed, else Python."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tokentrace_backend.otlp.native_decoding import (
    INSTALL_HINT,
    NATIVE_DECODER_AVAILABLE,
    decode_spans_native,
)
from tokentrace_backend.otlp.span_columns import DecodedSpans, decode_spans
from tokentrace_backend.settings import TOKENTRACE_DECODER, SettingsError

SpansDecoder = Callable[[bytes], DecodedSpans]

# Without the native decoder, decoding holds the GIL: worker processes keep it off the
# server's GIL (see decode_pool). The native decoder releases the GIL, so threads do.
_PYTHON_DECODE_WORKERS: Final = 2


@dataclass(frozen=True)
class DecoderChoice:
    """The decoder, and how many processes (0 = threads of the server) run it."""

    name: str
    decode: SpansDecoder
    workers: int
    releases_gil: bool


def choose_decoder(requested: str, workers: int | None) -> DecoderChoice:
    """``requested`` is ``auto``, ``native`` or ``python`` (``TOKENTRACE_DECODER``)."""
    if requested == "native" and not NATIVE_DECODER_AVAILABLE:
        raise SettingsError(
            f"{TOKENTRACE_DECODER}=native, but the native decoder is not installed: {INSTALL_HINT}"
        )
    if requested != "python" and NATIVE_DECODER_AVAILABLE:
        return DecoderChoice("native", decode_spans_native, workers or 0, releases_gil=True)
    return DecoderChoice(
        "python",
        decode_spans,
        _PYTHON_DECODE_WORKERS if workers is None else workers,
        releases_gil=False,
    )
