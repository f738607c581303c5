"""Read protocol TOML files into :class:`~cartlab.protocol.spec.Protocol` objects.

Every problem with a file is raised as one :class:`~cartlab._core.errors.SpecError` whose
message names the file, the key in TOML terms, the value received and what was expected, e.g.::

    breakfree1-sle.toml [[arms]] 2: dose.cells must be > 0; got -5000000.0
    x.toml [trial]: unknown key 'indicaton' (did you mean 'indication'?)
    x.toml [trial] indication: must be one of SLE, SSC, IIM; got 'LUPUS'
    x.toml: not valid TOML at line 12, column 3: Expected '=' after a key in a key/value pair

Items of arrays are counted from 1 (``[[arms]] 2`` is the second ``[[arms]]`` table,
``criteria[1]`` the first criterion).

Examples
--------
>>> protocol = load_protocol(resolve_protocol("reset-sle"))
>>> protocol.trial.study_id, [arm.code for arm in protocol.arms]
('RESET-SLE', ['SLE', 'LN'])
"""

from __future__ import annotations

import hashlib
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .._core.errors import SpecError
from .._core.toml import parse_toml, read_bytes
from .spec import (
    ARRAY_TABLES,
    PATTERN_HINTS,
    TOML_TABLES,
    Protocol,
    closest,
    show_value,
    suggest,
)

_NOTHING: Any = object()


@dataclass(frozen=True, slots=True)
class ShippedProtocol:
    """A protocol file shipped with cartlab, as listed by :func:`shipped_protocols`.

    Attributes
    ----------
    name : str
        File stem, accepted by :func:`resolve_protocol` (e.g. ``"breakfree1-sle"``).
    path : pathlib.Path
        Location of the file.
    study_id : str
        ``[trial] study_id``.
    indication : str
        ``[trial] indication``.
    title : str
        ``[trial] title``.
    arms : str
        One-line summary of the arms, e.g. ``"DL1 10x10^6 cells (n=13); DL2 25x10^6 cells (n=6)"``.
    """

    name: str
    path: Path
    study_id: str
    indication: str
    title: str
    arms: str


def load_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Read and validate a protocol TOML file.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Use :func:`resolve_protocol` first to accept shipped names too.

    Returns
    -------
    Protocol
        Frozen and validated, with ``source_path`` (absolute) and ``sha256`` of the bytes read.

    Raises
    ------
    SpecError
        The file is missing or unreadable, is not valid TOML, or does not describe a valid
        protocol. The message names the file, the key, the value and what was expected.
    """
    label = os.fspath(path)
    file = Path(path)
    data = read_bytes(file, "a protocol .toml file")
    return load_protocol_bytes(data, source=label, path=file.resolve())


def load_protocol_bytes(
    data: bytes, *, source: str = "<protocol>", path: Path | None = None
) -> Protocol:
    """Validate protocol TOML given as bytes.

    Parameters
    ----------
    data : bytes
        UTF-8 TOML text.
    source : str, default "<protocol>"
        Name used in error messages (usually the file name).
    path : pathlib.Path, optional
        Recorded as ``Protocol.source_path``.

    Returns
    -------
    Protocol
        With ``sha256`` of ``data``.

    Raises
    ------
    SpecError
        ``data`` is not UTF-8 TOML, or does not describe a valid protocol.
    """
    digest = hashlib.sha256(data).hexdigest()
    document = parse_toml(data, source)
    unknown = [key for key in document if key not in TOML_TABLES]
    if unknown:
        first = unknown[0]
        written = f"[[{first}]]" if isinstance(document[first], list) else f"[{first}]"
        message = f"{source}: unknown table {written}"
        match = closest(first, TOML_TABLES)
        if match:
            message += f" (did you mean {_header(match)}?)"
        raise SpecError(message + _more(len(unknown) - 1))
    try:
        return Protocol.model_validate({**document, "source_path": path, "sha256": digest})
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source)) from None


def shipped_protocols() -> tuple[ShippedProtocol, ...]:
    """List the protocol files shipped in ``cartlab/protocols/``, sorted by name.

    Each file is loaded and validated, so a broken shipped file raises.

    Returns
    -------
    tuple of ShippedProtocol

    Examples
    --------
    >>> [p.name for p in shipped_protocols()][:2]
    ['breakfree1-iim', 'breakfree1-sle']
    """
    listed = []
    for name, entry in sorted(_shipped_entries().items()):
        path = _on_disk(entry)
        protocol = load_protocol(path)
        arms = "; ".join(f"{a.code} {a.dose.label} (n={a.n})" for a in protocol.arms)
        listed.append(
            ShippedProtocol(
                name=name,
                path=path,
                study_id=protocol.trial.study_id,
                indication=protocol.trial.indication,
                title=protocol.trial.title,
                arms=arms,
            )
        )
    return tuple(listed)


def resolve_protocol(name_or_path: str | os.PathLike[str]) -> Path:
    """Find a protocol file given a path or the name of a shipped protocol.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        An existing file (which wins), or a shipped protocol name such as ``"breakfree1-sle"``
        or ``"breakfree1-sle.toml"``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SpecError
        Neither an existing file nor a shipped protocol name.

    Examples
    --------
    >>> resolve_protocol("reset-myositis.toml").name
    'reset-myositis.toml'
    """
    label = os.fspath(name_or_path)
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    if candidate.is_dir():
        raise SpecError(f"{label}: is a directory; expected a protocol .toml file")
    if candidate.name != label:  # a path with directories, not a bare name
        raise SpecError(f"{label}: file not found")
    shipped = _shipped_entries()
    stem = label.removesuffix(".toml")
    if stem in shipped:
        return _on_disk(shipped[stem])
    names = sorted(shipped)
    raise SpecError(
        f"{label}: file not found, and not a shipped protocol"
        f"{suggest(stem, names)}; shipped protocols are "
        f"{', '.join(names)}"
    )


def _shipped_entries() -> dict[str, Traversable]:
    folder = files("cartlab") / "protocols"
    return {
        entry.name.removesuffix(".toml"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }


def _on_disk(entry: Traversable) -> Path:
    if isinstance(entry, Path):
        return entry
    # cartlab is installed from a wheel or an editable tree, where package data are files;
    # a zipped install would need importlib.resources.as_file instead.
    raise SpecError(f"shipped protocol {entry.name} is not on the file system ({entry!r})")


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------


def format_validation_error(error: ValidationError, source: str) -> str:
    """Turn a pydantic error about a :class:`Protocol` into one message in TOML terms.

    Parameters
    ----------
    error : pydantic.ValidationError
        Raised by ``Protocol.model_validate``.
    source : str
        File name to start the message with.

    Returns
    -------
    str
        The first problem, as ``"<source> <table> <key>: <what>; got <value>"``, followed by
        ``"(and N more problems)"`` when there are more.
    """
    details = _distinct_problems(error.errors(include_url=False))
    return _describe(details[0], source) + _more(len(details) - 1)


def _more(count: int) -> str:
    if count < 1:
        return ""
    return f" (and {count} more problem{'s' if count > 1 else ''})"


def _distinct_problems(details: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop the errors pydantic derives from another one, and put unknown keys first."""

    def below(inner: ErrorDetails, outer: ErrorDetails) -> bool:
        a, b = tuple(inner["loc"]), tuple(outer["loc"])
        return len(a) > len(b) and a[: len(b)] == b

    # A too-short array whose items failed is reported through its items.
    kept = [
        d
        for d in details
        if d["type"] not in ("too_short", "too_long") or not any(below(o, d) for o in details)
    ]
    # A misspelt key also shows up as the real key missing: one problem, not two.
    typos = set()
    for d in kept:
        if d["type"] == "extra_forbidden":
            parent = tuple(d["loc"][:-1])
            target = closest(str(d["loc"][-1]), _fields_at(parent))
            typos.add((*parent, target))
    kept = [d for d in kept if not (d["type"] == "missing" and tuple(d["loc"]) in typos)]
    # Unknown keys usually explain the rest, so they come first.
    return sorted(kept, key=lambda d: d["type"] != "extra_forbidden") or details


def _describe(err: ErrorDetails, source: str) -> str:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    if kind == "cartlab_spec":
        full = loc + tuple(ctx["loc"])
        return _place(source, full, ctx["message"], ctx.get("value", _NOTHING))
    if kind == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        fields = _fields_at(parent)
        return _key_problem(source, parent, key, "unknown key", suggest(key, fields))
    if kind == "missing":
        if len(loc) == 1:
            return f"{source}: missing table {_header(str(loc[0]))}"
        return _key_problem(source, loc[:-1], str(loc[-1]), "missing required key", "")
    return _place(source, loc, _expected(err, loc, ctx), err.get("input", _NOTHING))


def _key_problem(source: str, parent: tuple[str | int, ...], key: str, what: str, hint: str) -> str:
    in_array_item = len(parent) > 1 and parent[0] in ARRAY_TABLES and isinstance(parent[1], int)
    anchor_len = 2 if in_array_item else 1
    anchor, below = parent[:anchor_len], parent[anchor_len:]
    name = _keypath((*below, key))
    if not parent:
        return f"{source}: {what} {name!r}{hint}"
    return f"{source} {_anchor(anchor)}: {what} '{name}'{hint}"


def _place(source: str, loc: tuple[str | int, ...], message: str, value: Any) -> str:
    got = "" if value is _NOTHING else f"; got {show_value(value)}"
    if not loc:
        return f"{source}: {message}{got}"
    table, rest = str(loc[0]), loc[1:]
    if table in ARRAY_TABLES and rest and isinstance(rest[0], int):
        keys = _keypath(rest[1:])
        body = f"{keys} {message}" if keys else message
        return f"{source} {_anchor(loc[:2])}: {body}{got}"
    keys = _keypath(rest)
    head = f"{source} {_header(table)} {keys}" if keys else f"{source} {_header(table)}"
    return f"{head}: {message}{got}"


def _header(table: str) -> str:
    return f"[[{table}]]" if table in ARRAY_TABLES else f"[{table}]"


def _anchor(anchor: tuple[str | int, ...]) -> str:
    header = _header(str(anchor[0]))
    return f"{header} {int(anchor[1]) + 1}" if len(anchor) > 1 else header


def _keypath(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            bare = re.fullmatch(r"[A-Za-z0-9_-]+", part)
            text += ("." if text else "") + (part if bare else f'"{part}"')
    return text


_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string (in quotes)",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "tuple_type": "must be an array",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
    "mapping_type": "must be a table",
    "string_too_short": "must not be empty",
}

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _expected(err: ErrorDetails, loc: tuple[str | int, ...], ctx: dict[str, Any]) -> str:
    kind = err["type"]
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        bound = ctx[key]
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {symbol} {bound}"
    if kind == "literal_error":
        choices = get_args(_type_at(loc))
        listed = ", ".join(str(c) for c in choices) if choices else str(ctx.get("expected"))
        return f"must be one of {listed}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern"))
        hint = PATTERN_HINTS.get(pattern)
        return f"must be {hint}" if hint else f"must match the pattern {pattern}"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length" if kind == "too_short" else "max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"must have {word} {bound} item{'s' if bound != 1 else ''}"
    if kind == "tuple_type" and len(loc) == 1 and str(loc[0]) in ARRAY_TABLES:
        table = str(loc[0])
        return f"must be an array of tables (write [[{table}]], not [{table}])"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    return str(err["msg"]).replace("Input should be", "must be").replace("Value error, ", "")


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp
            tp = options[0]
        else:
            return tp


def _type_at(loc: tuple[str | int, ...]) -> Any:
    """The declared type at a key path of :class:`Protocol`, or None if there is none."""
    tp: Any = Protocol
    for part in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(part, int) and origin is tuple:
            tp = get_args(tp)[0]
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            field = tp.model_fields.get(part)
            if field is None:
                return None
            tp = field.annotation
        elif origin in (dict, Mapping) or (
            isinstance(origin, type) and issubclass(origin, Mapping)
        ):
            tp = get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


def _fields_at(loc: tuple[str | int, ...]) -> tuple[str, ...]:
    tp = _type_at(loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp is Protocol:
            return TOML_TABLES
        return tuple(tp.model_fields)
    return ()


__all__ = [
    "ShippedProtocol",
    "format_validation_error",
    "load_protocol",
    "load_protocol_bytes",
    "resolve_protocol",
    "shipped_protocols",
]
