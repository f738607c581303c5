"""cartlab: simulate, run and analyse CD19 CAR T-cell therapy trials in autoimmune disease."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cartlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
