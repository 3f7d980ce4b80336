"""The docstring examples of the learning modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["features", "hbp", "spec", "prequential", "synthetic"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"helicon.runtime.learn.{name}")
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
