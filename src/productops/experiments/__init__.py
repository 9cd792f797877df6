"""Experimentation: feature flags that GrowthBook's and OpenFeature's SDKs can read, an
experiment registry with hypotheses and decisions, a stats engine on aggregates, a
sample-size and runtime calculator, and a learning library.

This is the pillar's public Python API; other pillars use only what `__all__` names. Inside,
the pillar is cut into rooms: `stats/` (the engine, plain functions), `power/` (sample size,
MDE, runtime), `flags/` (flags, rules, GrowthBook-compatible evaluation), `sdk/` (what SDKs
read), `registry/` (experiments and their results), `library/` (decided experiments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.experiments.stats import Comparison, compare

_NAMES = {
    "Comparison": ".stats",
    "compare": ".stats",
}
__all__ = ["Comparison", "compare"]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
