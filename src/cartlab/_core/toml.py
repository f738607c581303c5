"""Reading TOML documents (protocols, calibration targets, parameter sets) with one kind of error.

Every failure is a :class:`~cartlab._core.errors.SpecError` that starts with the file's name and,
for a syntax error, says where (``file: not valid TOML at line 12, column 3: …``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import SpecError

# tomllib ends its messages with "(at line 12, column 3)" or "(at end of document)".
_TOML_POSITION = re.compile(r"^(?P<what>.*?)\s*\(at (?P<where>[^()]+)\)$", re.DOTALL)


def _toml_position(message: str) -> str:
    found = _TOML_POSITION.match(message)
    if found:
        return f"at {found['where']}: {found['what']}"
    return f"({message})"


def read_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of ``path``; a missing, unreadable or directory path is a :class:`SpecError` naming
    the file and ``what`` it should have been (e.g. ``"a protocol .toml file"``)."""
    label = os.fspath(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{label}: is a directory; expected {what}") from None
    except PermissionError:
        raise SpecError(f"{label}: cannot be read (permission denied)") from None
    except OSError as exc:
        raise SpecError(f"{label}: cannot be read ({exc.strerror or exc})") from None


def parse_toml(data: bytes, source: str) -> dict[str, Any]:
    """Decode UTF-8 TOML ``data``; errors name ``source`` and the position of the mistake.

    Examples
    --------
    >>> parse_toml(b'version = "1"', "x.toml")
    {'version': '1'}
    >>> parse_toml(b'version = ', "x.toml")
    Traceback (most recent call last):
    ...
    cartlab._core.errors.SpecError: x.toml: not valid TOML at end of document: Invalid value
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{source}: not valid UTF-8 at byte {exc.start}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML {_toml_position(str(exc))}") from None


def read_toml(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """:func:`read_bytes` then :func:`parse_toml`."""
    return parse_toml(read_bytes(path, what), os.fspath(path))
