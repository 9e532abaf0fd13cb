"""Values as people read them on the UI's pages: clock times, shares, sizes, counted nouns.
(The warehouse keeps the raw numbers; these are for metadata a person looks at.)"""

from __future__ import annotations

import unicodedata


def _hms(total: int) -> str:
    hours, rest = divmod(max(0, total), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def clock(seconds: float | None) -> str:
    """A duration: 0:27, 12:05, 1:02:09 (rounded to the second)."""
    return "?" if seconds is None else _hms(int(round(seconds)))


def timestamp(seconds: float) -> str:
    """A moment in the audio: 0:05 for anything from 5.0 to 5.99 s (as players show it)."""
    return _hms(int(seconds))


def percent(share: float | None, digits: int = 1) -> str:
    """0.2275 -> 22.8 %."""
    if share is None:
        return "?"
    return f"{share * 100:.{digits}f} %"


def megabytes(size_bytes: int | None) -> str:
    """960104 -> 0.96 MB (two significant decimals under 10 MB, one above)."""
    if size_bytes is None:
        return "?"
    mb = size_bytes / 1_000_000
    return f"{mb:.2f} MB" if mb < 10 else f"{mb:.1f} MB"


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """1 speaker, 2 speakers, 0 speakers."""
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def label(text: str) -> str:
    """A file name (or any text from outside) as a label a person reads: control and format
    characters (newlines, carriage returns, terminal escapes, right-to-left and zero-width
    marks) are shown escaped, so a name can never forge a line, recolour a terminal or reorder
    what follows it. The warehouse and the registry keep the name as it is."""
    return "".join(_escaped(char) for char in text)


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return char
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
