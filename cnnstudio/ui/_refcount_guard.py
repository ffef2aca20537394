"""Work around a reference-count bug of the PySide6 6.12 abi3 wheels on Python 3.10 and 3.11.

Those builds return None, True and False from C++ calls without taking a reference: every call to a
void Qt method (label.setText, app.processEvents, ...), to a getter that returns None, or to
Signal.emit (which returns True) drops one reference the caller never owned. After some thousands of
calls the singleton's count reaches zero and CPython aborts with "Fatal Python error: none_dealloc:
deallocating None". Reproduce: `for _ in range(10000): QCoreApplication.processEvents()`.

From Python 3.12 these objects are immortal and the stray decrefs are no-ops. For older versions we
give them the same protection by adding 2**40 to their counts once (a count is a 64-bit
Py_ssize_t; a session would need a trillion stray calls to use that up). Nothing else changes.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 40
_applied = False


def protect_singletons() -> None:
    """Make None, True and False effectively immortal on CPython < 3.12 (idempotent)."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object, at the object's address.
        ctypes.c_ssize_t.from_address(id(obj)).value += _BOOST
    _applied = True
