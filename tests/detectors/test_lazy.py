"""Packages with lazy exports (`detectors.lazy`) export exactly `__all__`, each name being its submodule's object."""

from __future__ import annotations

import importlib
import subprocess
import sys
from types import ModuleType

import pytest

LAZY_PACKAGES = ["detectors.drift", "detectors.fairness", "detectors.quality", "sidecar.reports"]


def _package(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_export_is_its_submodules_object(name: str) -> None:
    package = _package(name)
    exports: dict[str, str] = package.EXPORTS
    assert sorted(exports) == sorted(package.__all__)
    for export, submodule in exports.items():
        assert getattr(package, export) is getattr(importlib.import_module(f"{name}.{submodule}"), export)
    assert set(package.__all__) <= set(dir(package))


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'nope'"):
        _package(name).nope  # noqa: B018


def test_star_import_and_submodule_from_import_still_work() -> None:
    namespace: dict[str, object] = {}
    exec("from detectors.drift import *\nfrom sidecar.reports import job", namespace)
    assert callable(namespace["detect_drift"])
    assert isinstance(namespace["job"], ModuleType)


def test_options_models_import_no_numpy() -> None:
    """The configuration side of the detectors (what a monitor's YAML holds) is importable on its own."""
    code = (
        "import sys\n"
        "import detectors.column_types, detectors.drift.options, detectors.fairness.names\n"
        "import detectors.fairness.options, detectors.performance_options, detectors.quality.thresholds\n"
        "import sidecar.reports.spec, sidecar.reports.summary, sidecar.reports.pool\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'scipy', 'sklearn'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
