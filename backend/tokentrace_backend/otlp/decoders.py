"""Which span decoder ingest uses: the compiled one when it is installed, else Python."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from tokentrace_backend.otlp.native_decoding import (
    NATIVE_DECODER_INSTALLED,
    decode_spans_native,
    native_decoder_problem,
)
from tokentrace_backend.otlp.span_columns import DecodedSpans, decode_spans
from tokentrace_backend.settings import TOKENTRACE_DECODER, SettingsError

SpansDecoder = Callable[[bytes], DecodedSpans]

logger = logging.getLogger(__name__)

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
    """``requested`` is ``auto``, ``native`` or ``python`` (``TOKENTRACE_DECODER``).

    ``native`` raises SettingsError when the native decoder cannot be used; ``auto`` then
    takes the Python one, with a warning when the native one is installed but broken.
    """
    problem = None if requested == "python" else native_decoder_problem()
    if requested == "native" and problem is not None:
        raise SettingsError(f"{TOKENTRACE_DECODER}=native, but the native decoder: {problem}")
    if requested == "auto" and problem is not None and NATIVE_DECODER_INSTALLED:
        logger.warning("using the Python span decoder: the native decoder: %s", problem)
    if requested != "python" and problem is None:
        return DecoderChoice("native", decode_spans_native, workers or 0, releases_gil=True)
    return DecoderChoice(
        "python",
        decode_spans,
        _PYTHON_DECODE_WORKERS if workers is None else workers,
        releases_gil=False,
    )
