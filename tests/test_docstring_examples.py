"""Every Example in the library's docstrings runs and prints what it says (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mentor_eval

MODULES = sorted(m.name for m in pkgutil.walk_packages(mentor_eval.__path__, "mentor_eval.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (run: python -m pytest --doctest-modules {name.replace('.', '/')}.py)"
