"""Public APIs that import lazily: a package's `__init__` names what it offers (`__all__`)
without importing the heavy modules behind it until a name is used, so that importing a
pillar (the house does, to find its parts) and `productops --help` stay fast.

    __all__ = ["load_catalog", ...]
    __getattr__, __dir__ = lazy_exports(__name__, {"load_catalog": ".service", ...})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package` that import each name from its module
    (relative to `package`) on first use."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
