"""The layering of DESIGN.md holds: pure layers never import the store, the CLI or web code."""

import shutil
import subprocess
import sys
from pathlib import Path


def test_import_linter_contracts() -> None:
    root = Path(__file__).resolve().parents[2]
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    res = subprocess.run([exe, "--config", str(root / "pyproject.toml")], capture_output=True, text=True, cwd=root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 2 kept, 0 broken" in res.stdout
