"""Run the docstring examples of every cartlab module (they are part of the documentation)."""

import doctest
import importlib
import pkgutil

import cartlab


def test_doctests() -> None:
    failed = 0
    for mod in pkgutil.walk_packages(cartlab.__path__, "cartlab."):
        m = importlib.import_module(mod.name)
        failed += doctest.testmod(m, optionflags=doctest.ELLIPSIS).failed
    assert failed == 0
