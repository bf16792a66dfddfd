"""Load a bench/ script as a module for the tests (bench/ is a folder of scripts, no package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str) -> ModuleType:
    """A fresh import of ``bench/<name>.py`` as module ``bench_<name>``.

    The module is registered in ``sys.modules`` before it runs (dataclasses look their module
    up while a class is built), and bench/ is put on ``sys.path`` (the scripts import their
    siblings, e.g. ``peer_chemprop``).
    """
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
