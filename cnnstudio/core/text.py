"""Text for people and for other programs: words for numbers, names made safe to show or to store.

- plural, clock_text: "1 epoch", "3 epochs", "1:05:00".
- printable: any user-supplied string (a class name, a file or folder name, a message quoting a path)
  as a terminal or a Qt label should show it: control characters, line separators and the invisible
  format characters (U+202E RIGHT-TO-LEFT OVERRIDE and the other bidi controls) escaped, so a name
  can neither break a line of output nor reorder the text around it.
- name_problem: why a class name cannot be stored one per line (labels.txt), or None.
- csv_cell: a cell a spreadsheet will not run as a formula.

Only the standard library: the exported predictor bundle ships this module (core/export/bundle.py).
"""

from __future__ import annotations

import math
import unicodedata


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1,200 images' (many: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def clock_text(seconds: float | None, unknown: str = "--") -> str:
    """A duration as a clock shows it: '0:42', '12:05', '1:02:03'; `unknown` for None, NaN or negative."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return unknown
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def percent_text(fraction: float | None) -> str:
    """A fraction as a percentage with one decimal: '93.5 %'; '--' for None."""
    return "--" if fraction is None else f"{100 * fraction:.1f} %"


# Format characters (Unicode category Cf) that are kept as they are: the zero-width joiner and non-joiner
# build emoji sequences and join letters in Arabic, Persian and Indic scripts; the tag characters end
# subdivision flags. Every other Cf character (the bidi embeddings, overrides, isolates and marks, the
# zero-width space, the byte-order mark, the soft hyphen ...) changes how the text around it is shown
# without being seen itself, so it is shown as an escape.
_KEPT_FORMAT = frozenset({"\u200c", "\u200d"})
_TAGS = range(0xE0020, 0xE0080)
# Cc: C0 and C1 controls (newline, escape, ...); Cs: lone surrogates, which Python uses for the bytes of a
# file name that are not UTF-8 (printing one raises); Zl, Zp: U+2028 and U+2029, which break lines.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hidden(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category in _ESCAPED_CATEGORIES:
        return True
    return category == "Cf" and ch not in _KEPT_FORMAT and ord(ch) not in _TAGS


def _escape(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object) -> str:
    """`value` as text safe to print on a terminal or show in a label: one line, shown in its own order.

    The one way the command line and the app show user-supplied strings. Each control, line-separator,
    surrogate or hidden format character becomes a Python-style escape (a newline shows as \\n, U+202E as
    \\u202e, ESC as \\x1b); everything else, accents and emoji included, is unchanged. Backslashes are
    left alone, so a name's look is kept: this is for showing, not a reversible encoding."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case, one C-level scan (isprintable is False for every escaped class)
        return text
    return "".join(_escape(ch) if _hidden(ch) else ch for ch in text)


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a class name, or None.

    Class names are stored one per line (a bundle's labels.txt, the documented class order) and shown
    everywhere, so characters that break a line or cannot be written as UTF-8 are refused where a name
    comes from: a control character (newline, tab, escape, ...), U+2028/U+2029, or bytes of a file
    name that are not UTF-8. Refused, not escaped: an escaped name would differ from the folder's own
    name in every file written, and a reader of labels.txt would have to know the escaping. The user
    renames the folder once; bidi and other format characters are allowed (names in right-to-left
    scripts use them) and only shown escaped (printable)."""
    for ch in name:
        if unicodedata.category(ch) in _ESCAPED_CATEGORIES:
            what = ("a byte that is not UTF-8" if unicodedata.category(ch) == "Cs"
                    else f"a control or line-break character ({_escape(ch)})")
            return f"the name '{printable(name)}' holds {what}"
    return None


# A cell starting with one of these is read by spreadsheets as a formula (OWASP "CSV injection"): "=",
# "+", "-", "@", and tab or carriage return, which some of them skip before looking again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """`value` as a CSV cell a spreadsheet shows as text: a leading = + - @ tab or CR gets a single quote
    before it (the OWASP rule). Every CSV the project writes passes its cells through here; numbers
    are formatted by the caller and never start with one of those (they are not negative here)."""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
