"""Lazy package exports (PEP 562): a package's public names are imported from their submodules on first use.

A package whose `__init__` imported every submodule would make `from detectors.drift.options import
DriftOptions` (a pydantic model) pay for scipy and pandas, since Python runs a package's `__init__` before any
of its submodules: configuration validation, and with it `driftcar serve`'s start-up, would import them all.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, importing each name of `exports` (name -> submodule) on use."""
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        namespace[name] = value  # the next lookup is a plain attribute, __getattr__ is not called again
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
