"""Provenance records: what produced a result, from which inputs, when.

Every trial store, table and report carries a flat ``{key: value}`` record of strings so that a
result can be traced back to the package version, the source commit, the seed and the exact
bytes of its inputs (STYLE.md, habit 12). The record is plain text on purpose: it is written to
the ``provenance`` table of the trial store (columns ``KEY``, ``VALUE``), printed by the CLI and
shown in reports without any decoding.

This module is pure (no I/O beyond reading the inputs it is asked to hash and one optional
``git`` call), so every layer may use it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import DataValidationError

__all__ = ["PROVENANCE_KEYS", "collect_provenance", "sha256_bytes", "sha256_file"]

#: Keys :func:`collect_provenance` always writes, in this order (``git_commit`` only when the
#: package runs from a git checkout). Input hashes (``input:<name>:sha256``) and the extras
#: follow them.
PROVENANCE_KEYS: tuple[str, ...] = (
    "cartlab_version",
    "git_commit",
    "python",
    "numpy",
    "numba",
    "polars",
    "platform",
    "created_utc",
    "seed",
)

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CHUNK_BYTES = 1 << 20
_GIT_TIMEOUT_S = 2.0
_COMMIT_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


def sha256_bytes(data: bytes) -> str:
    """Return the SHA-256 digest of ``data`` as 64 lower-case hexadecimal characters.

    Parameters
    ----------
    data : bytes
        Any bytes-like object (``bytes``, ``bytearray``, ``memoryview``).

    Returns
    -------
    str
        Hexadecimal digest (FIPS 180-4 SHA-256).

    Examples
    --------
    The FIPS 180-2 appendix B.1 test vector:

    >>> sha256_bytes(b"abc")
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 digest of a file's bytes, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash. Its size is not limited by memory.

    Returns
    -------
    str
        Hexadecimal digest, identical to ``sha256_bytes(Path(path).read_bytes())``.

    Raises
    ------
    DataValidationError
        If the file does not exist, is a directory or cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "x.txt")
    ...     _ = p.write_bytes(b"abc")
    ...     sha256_file(p) == sha256_bytes(b"abc")
    True
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataValidationError(f"{path}: cannot read the file to hash it ({reason})") from exc
    return digest.hexdigest()


def collect_provenance(
    *,
    seed: int | None,
    inputs: Mapping[str, bytes | Path] = _EMPTY,
    extra: Mapping[str, object] = _EMPTY,
) -> dict[str, str]:
    """Describe the software, environment, seed and inputs behind a result.

    Parameters
    ----------
    seed : int or None
        Root seed of the run; ``None`` (recorded as ``"none"``) when the run was not seeded and
        therefore cannot be reproduced bit for bit.
    inputs : Mapping[str, bytes or pathlib.Path], optional
        Named inputs to fingerprint: raw bytes (e.g. the protocol TOML as read) or a file path,
        which is hashed in chunks. Names must be non-empty and contain no ``:`` or whitespace,
        so that the key ``input:<name>:sha256`` can be parsed back.
    extra : Mapping[str, object], optional
        Further entries (``protocol_id``, ``n_patients`` …), stringified with ``str`` except
        ``None`` → ``"none"`` and booleans → ``"true"``/``"false"``. They may not reuse a
        standard key.

    Returns
    -------
    dict[str, str]
        In this order:

        - ``cartlab_version`` – ``cartlab.__version__``;
        - ``git_commit`` – ``git rev-parse HEAD`` of the source tree, only when cartlab runs
          from a git checkout that tracks it (absent otherwise, never an error);
        - ``python``, ``numpy``, ``numba``, ``polars`` – versions (``"not installed"`` if so);
        - ``platform`` – :func:`platform.platform`;
        - ``created_utc`` – ISO 8601 UTC time to the second, e.g. ``2025-03-01T09:30:00Z``;
        - ``seed``;
        - ``input:<name>:sha256`` for each input, in the order given;
        - the extras, in the order given.

    Raises
    ------
    DataValidationError
        If an input name is invalid, an input is neither bytes nor a :class:`~pathlib.Path`,
        an input file cannot be read, an extra key is empty or not a string, or an extra key
        collides with a standard or input key.

    Examples
    --------
    >>> prov = collect_provenance(seed=20250301, inputs={"protocol": b"abc"},
    ...                           extra={"n_patients": 24})
    >>> prov["seed"], prov["n_patients"]
    ('20250301', '24')
    >>> prov["input:protocol:sha256"][:16]
    'ba7816bf8f01cfea'
    >>> list(prov)[-3:]
    ['seed', 'input:protocol:sha256', 'n_patients']
    """
    from cartlab import __version__  # at call time: the package root may import _core

    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise DataValidationError(
            f"provenance seed must be an int or None; got {seed!r} ({type(seed).__name__})"
        )

    record: dict[str, str] = {"cartlab_version": str(__version__)}
    commit = _package_git_commit()
    if commit is not None:
        record["git_commit"] = commit
    record["python"] = platform.python_version()
    for dist in ("numpy", "numba", "polars"):
        record[dist] = _dist_version(dist)
    record["platform"] = platform.platform()
    record["created_utc"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    record["seed"] = "none" if seed is None else str(seed)

    for name, source in inputs.items():
        record[f"input:{_check_input_name(name)}:sha256"] = _hash_input(name, source)

    for key, value in extra.items():
        if not isinstance(key, str) or not key:
            raise DataValidationError(
                f"provenance extra keys must be non-empty strings; got {key!r}"
            )
        if key in record or key in PROVENANCE_KEYS:
            raise DataValidationError(
                f"provenance extra key {key!r} collides with a standard key; "
                f"choose another name (standard keys: {', '.join(PROVENANCE_KEYS)})"
            )
        record[key] = _stringify(value)
    return record


def _stringify(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_input_name(name: object) -> str:
    if not isinstance(name, str) or not name or ":" in name or any(c.isspace() for c in name):
        raise DataValidationError(
            f"provenance input name {name!r} is invalid; expected a non-empty string without "
            "':' or whitespace, such as 'protocol'"
        )
    return name


def _hash_input(name: str, source: object) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return sha256_bytes(source)
    if isinstance(source, Path):
        if not source.is_file():
            raise DataValidationError(
                f"provenance input {name!r}: {source} is not a readable file; "
                "pass the path of an existing file, or its bytes"
            )
        return sha256_file(source)
    hint = (
        " (a str is ambiguous: pass Path(...) for a file or .encode() for text)"
        if isinstance(source, str)
        else ""
    )
    raise DataValidationError(
        f"provenance input {name!r} must be bytes or a pathlib.Path; "
        f"got {type(source).__name__}{hint}"
    )


def _dist_version(dist: str) -> str:
    # Read installed metadata instead of importing: importing numba alone costs ~0.5 s.
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


@functools.cache
def _package_git_commit() -> str | None:
    return _git_commit_of(Path(__file__).resolve().parent.parent)


def _git_commit_of(package_dir: Path) -> str | None:
    """Return the commit checked out at ``package_dir`` if git tracks the package there.

    Parameters
    ----------
    package_dir : pathlib.Path
        Directory of a Python package (containing ``__init__.py``).

    Returns
    -------
    str or None
        The 40 (SHA-1) or 64 (SHA-256) hexadecimal digits of ``HEAD``; ``None`` when git is not
        installed, times out, the directory is not in a work tree, or the work tree does not
        track ``__init__.py`` (e.g. an installed copy inside a virtual environment that happens
        to live in somebody else's repository).
    """
    # GIT_DIR & co. (set inside git hooks) would point git at another repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "__init__.py"],
            cwd=package_dir,
            env=env,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
        if tracked.returncode != 0:
            return None
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=package_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    if head.returncode != 0 or not _COMMIT_RE.match(commit):
        return None
    return commit
