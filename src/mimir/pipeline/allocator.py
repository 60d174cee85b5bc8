"""Allocator tuning for preprocessing workers.

Preprocessing allocates and frees a few hundred MB of large arrays per subject. glibc
returns such blocks to the operating system after each subject, so the next subject
page-faults them in again; measured here, that costs 10-20 % of the time per subject.
:func:`tune_allocator` asks glibc (``mallopt``) to keep up to 1 GiB of freed memory and
to grow the heap in 512 MiB steps. It is called once per worker process; elsewhere
(non-glibc systems) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
_done = False


def tune_allocator() -> bool:
    """Apply the settings once per process; True when glibc accepted them."""
    global _done
    if _done:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)) and \
            bool(libc.mallopt(M_TOP_PAD, 1 << 29))
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok
