"""Keep the memory a generation frees for its next chunk, instead of faulting it in again.

Every chunk of a day allocates tens of megabytes of NumPy arrays and frees them at its end.
glibc's malloc hands such memory straight back to the system (arrays above its mmap threshold
are mapped and unmapped one by one, and a freed heap top is trimmed), so the next chunk touches
fresh pages: at ten million transactions that is hundreds of thousands of page faults, a large
share of the run's system time. While generating, malloc keeps what is freed; afterwards its
default thresholds are set again (as fixed values: glibc's own sliding mmap threshold stays
off) and what it kept is handed back. Where the C library is not glibc, nothing changes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters and glibc's default thresholds (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_DEFAULT_THRESHOLD = 128 * 1024
_KEEP_BELOW = 32 * 1024 * 1024  # glibc's largest mmap threshold on 64-bit systems
_TRIM_ABOVE = 1024 * 1024 * 1024


@contextmanager
def freed_memory_kept() -> Iterator[None]:
    """Within the block, glibc's malloc reuses the memory freed in it."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)
    libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_THRESHOLD)
        libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_THRESHOLD)
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - glibc's: other C libraries may lack them
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc
