"""Tests of provenance records and hashing."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import cartlab
from cartlab._core import provenance as provenance_module
from cartlab._core.errors import DataValidationError
from cartlab._core.provenance import (
    PROVENANCE_KEYS,
    collect_provenance,
    sha256_bytes,
    sha256_file,
)

# FIPS 180-2, appendix B.1 ("abc") and the digest of the empty message (FIPS 180-2 / NIST
# CSRC example values for SHA-256).
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sha256_bytes_matches_fips_vectors() -> None:
    assert sha256_bytes(b"abc") == SHA256_ABC
    assert sha256_bytes(b"") == SHA256_EMPTY
    assert sha256_bytes(bytearray(b"abc")) == SHA256_ABC
    assert sha256_bytes(memoryview(b"abc")) == SHA256_ABC


def test_sha256_file_matches_bytes_including_multi_chunk_files(tmp_path: Path) -> None:
    small = tmp_path / "abc.txt"
    small.write_bytes(b"abc")
    assert sha256_file(small) == SHA256_ABC
    assert sha256_file(str(small)) == SHA256_ABC

    big = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # 2.3 MB: more than two 1 MiB chunks
    big.write_bytes(data)
    assert sha256_file(big) == hashlib.sha256(data).hexdigest()


def test_sha256_file_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"missing\.toml: cannot read"):
        sha256_file(tmp_path / "missing.toml")
    with pytest.raises(DataValidationError, match="cannot read"):
        sha256_file(tmp_path)


def test_standard_keys_present_in_order_and_all_strings() -> None:
    prov = collect_provenance(seed=42)
    expected = [k for k in PROVENANCE_KEYS if k != "git_commit" or "git_commit" in prov]
    assert list(prov) == expected
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in prov.items())
    assert prov["cartlab_version"] == cartlab.__version__
    assert prov["seed"] == "42"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", prov["python"])
    for dist in ("numpy", "numba", "polars"):
        assert prov[dist]
    assert prov["platform"]
    if "git_commit" in prov:
        assert re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", prov["git_commit"])


def test_created_utc_is_iso8601_seconds_z_and_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    created = collect_provenance(seed=None)["created_utc"]
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", created)
    moment = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= moment <= after + timedelta(seconds=1)


def test_unseeded_run_is_recorded_as_none() -> None:
    assert collect_provenance(seed=None)["seed"] == "none"


@pytest.mark.parametrize("seed", [1.5, "42", True])
def test_seed_must_be_int_or_none(seed: object) -> None:
    with pytest.raises(DataValidationError, match="seed must be an int or None"):
        collect_provenance(seed=seed)  # type: ignore[arg-type]


def test_inputs_are_hashed_from_bytes_and_files_in_order(tmp_path: Path) -> None:
    protocol = tmp_path / "breakfree1-sle.toml"
    protocol.write_bytes(b"abc")
    prov = collect_provenance(
        seed=7, inputs={"protocol": protocol, "sdtm_dm": b"", "raw": bytearray(b"abc")}
    )
    assert prov["input:protocol:sha256"] == SHA256_ABC
    assert prov["input:sdtm_dm:sha256"] == SHA256_EMPTY
    assert prov["input:raw:sha256"] == SHA256_ABC
    inputs = [k for k in prov if k.startswith("input:")]
    assert inputs == ["input:protocol:sha256", "input:sdtm_dm:sha256", "input:raw:sha256"]
    assert list(prov).index("seed") < list(prov).index("input:protocol:sha256")


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"protocol": "protocol.toml"}, r"str is ambiguous"),
        ({"protocol": 3}, r"must be bytes or a pathlib.Path; got int"),
        ({"": b""}, r"input name '' is invalid"),
        ({"a:b": b""}, r"input name 'a:b' is invalid"),
        ({"a b": b""}, r"input name 'a b' is invalid"),
    ],
)
def test_bad_inputs_are_refused(inputs: dict, message: str) -> None:
    with pytest.raises(DataValidationError, match=message):
        collect_provenance(seed=1, inputs=inputs)


def test_missing_input_file_names_input_and_path(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"input 'protocol': .*nope\.toml"):
        collect_provenance(seed=1, inputs={"protocol": tmp_path / "nope.toml"})


def test_extras_are_stringified_after_everything_else() -> None:
    prov = collect_provenance(
        seed=3,
        inputs={"protocol": b"abc"},
        extra={"n_patients": 24, "dose_cells": 2.5e7, "dry_run": False, "note": None},
    )
    assert list(prov)[-4:] == ["n_patients", "dose_cells", "dry_run", "note"]
    assert prov["n_patients"] == "24"
    assert prov["dose_cells"] == "25000000.0"
    assert prov["dry_run"] == "false"
    assert prov["note"] == "none"


@pytest.mark.parametrize("key", ["seed", "git_commit", "input:protocol:sha256", ""])
def test_extra_keys_may_not_collide_or_be_empty(key: str) -> None:
    with pytest.raises(DataValidationError, match="extra key"):
        collect_provenance(seed=1, inputs={"protocol": b"abc"}, extra={key: "x"})


def test_git_commit_absent_when_git_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git")

    monkeypatch.setattr(provenance_module.subprocess, "run", no_git)
    provenance_module._package_git_commit.cache_clear()
    try:
        assert "git_commit" not in collect_provenance(seed=1)
    finally:
        provenance_module._package_git_commit.cache_clear()


def test_git_commit_absent_outside_a_work_tree(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    assert provenance_module._git_commit_of(package) is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_of_a_checkout_and_of_an_untracked_copy(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        config = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
        config += ["-c", "commit.gpgsign=false"]
        done = subprocess.run(
            ["git", *config, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    git("init", "-q")
    # An installed copy inside someone else's repository is untracked: no commit claimed.
    assert provenance_module._git_commit_of(package) is None
    git("add", "pkg/__init__.py")
    git("commit", "-q", "-m", "init")
    assert provenance_module._git_commit_of(package) == git("rev-parse", "HEAD")
