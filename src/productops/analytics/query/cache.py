"""Computed insights, kept by what they are and the data they were computed from.

Every chart of the insights pages is a *result*: a key (which analysis, with which
parameters) and the *version* of the data it read (how many events, and the newest one's
arrival, in the time range it covers; the customers' version; the catalog's text). A page
asks `ResultCache.get(key, version, compute)`:

- the same key and version is in the cache → the result, *fresh*;
- the key is there with an older version → the old result at once, *stale*, while a
  background thread computes the new one (so new events refresh only the results whose range
  they fall in, and a page never waits on a recomputation it can show from cache);
- the key was never computed → computed now (the first load of a new chart).

Results live in memory (a small LRU) and on disk in `<workspace>/.productops/cache/`, so a
restarted server answers from the results it had. Each result says when it was computed,
which the page shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

from productops.core.clock import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
# Part of every key: change it when what a result holds changes (its charts included), so
# results of an older productops are computed again instead of shown.
CACHE_FORMAT = "3"
MEMORY_ENTRIES = 128


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How a result is written to disk: JSON-ready metadata and its DataFrames (Parquet)."""

    encode: Callable[[T], tuple[dict[str, Any], list[pd.DataFrame]]]
    decode: Callable[[dict[str, Any], list[pd.DataFrame]], T]


@dataclass(frozen=True)
class Cached(Generic[T]):
    """A result and how current it is."""

    value: T
    version: str
    computed_at: dt.datetime
    state: str  # "fresh" | "stale" (a newer one is being computed) | "computed" (just now)

    @property
    def refreshing(self) -> bool:
        return self.state == "stale"


def key_of(*parts: Any) -> str:
    """A stable key for a result from its parts (kind, parameters…)."""
    from productops import __version__

    text = json.dumps([CACHE_FORMAT, __version__, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ResultCache(Generic[T]):
    """Results of one kind for one workspace (see the module docstring)."""

    def __init__(self, folder: Path | None, codec: Codec[T]) -> None:
        self.folder = folder
        self.codec = codec
        self._memory: OrderedDict[str, tuple[str, dt.datetime, T]] = OrderedDict()
        self._lock = threading.Lock()
        self._running: dict[str, Future[None]] = {}

    # --- memory and disk --------------------------------------------------------------------

    def _remember(self, key: str, version: str, at: dt.datetime, value: T) -> None:
        with self._lock:
            self._memory[key] = (version, at, value)
            self._memory.move_to_end(key)
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    def _lookup(self, key: str) -> tuple[str, dt.datetime, T] | None:
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
        if self.folder is None:
            return None
        meta_path = self.folder / f"{key}.json"
        try:
            meta = json.loads(meta_path.read_text())
            frames = [
                pd.read_parquet(io.BytesIO((self.folder / f"{key}.{i}.parquet").read_bytes()))
                for i in range(int(meta.get("frames", 0)))
            ]
            value = self.codec.decode(meta["value"], frames)
            found = (str(meta["version"]), dt.datetime.fromisoformat(meta["computed_at"]), value)
        except FileNotFoundError:
            return None
        except Exception:  # a damaged or outdated file is only a cache miss
            log.debug("cache entry %s unreadable", key, exc_info=True)
            return None
        self._remember(key, *found)
        return found

    def _save(self, key: str, version: str, at: dt.datetime, value: T) -> None:
        self._remember(key, version, at, value)
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            meta, frames = self.codec.encode(value)
            for i, frame in enumerate(frames):
                buf = io.BytesIO()
                frame.to_parquet(buf, index=False)
                tmp = self.folder / f"{key}.{i}.parquet.tmp"
                tmp.write_bytes(buf.getvalue())
                tmp.replace(self.folder / f"{key}.{i}.parquet")
            doc = {
                "version": version,
                "computed_at": at.isoformat(),
                "frames": len(frames),
                "value": meta,
            }
            tmp = self.folder / f"{key}.json.tmp"
            tmp.write_text(json.dumps(doc, default=str))
            tmp.replace(self.folder / f"{key}.json")
        except Exception:  # the cache is an optimisation; a full disk must not fail a page
            log.warning("could not keep a computed insight on disk", exc_info=True)

    # --- the one entry point ----------------------------------------------------------------

    def get(
        self, key: str, version: str, compute: Callable[[], T], family: str | None = None
    ) -> Cached[T]:
        """The result for `key` at `version` (see the module docstring). `family` names the
        result whatever its range ends on (the panel, not its dates): when a new day begins
        the last result of the family is shown while the new one is computed."""
        hit = self._lookup(key)
        if hit is not None and hit[0] == version:
            return Cached(hit[2], version, hit[1], "fresh")
        if hit is None and family is not None:
            latest = self._lookup(f"latest-{family}")
            if latest is not None:
                hit = latest
        if hit is not None:
            self._refresh_later(key, version, compute, family)
            return Cached(hit[2], hit[0], hit[1], "stale")
        value = compute()
        at = utcnow()
        self._save(key, version, at, value)
        if family is not None:
            self._save(f"latest-{family}", version, at, value)
        return Cached(value, version, at, "computed")

    def peek(self, key: str) -> tuple[str, dt.datetime, T] | None:
        """What the cache holds for `key`, whatever its version."""
        return self._lookup(key)

    def _refresh_later(
        self, key: str, version: str, compute: Callable[[], T], family: str | None = None
    ) -> None:
        with self._lock:
            if key in self._running and not self._running[key].done():
                return

            def run() -> None:
                try:
                    value = compute()
                    at = utcnow()
                    self._save(key, version, at, value)
                    if family is not None:
                        self._save(f"latest-{family}", version, at, value)
                except Exception:
                    log.exception("refreshing a computed insight failed")
                finally:
                    with self._lock:
                        self._running.pop(key, None)

            self._running[key] = _refresher().submit(run)

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the refreshes under way (tests, the demo's warm-up)."""
        with self._lock:
            running = list(self._running.values())
        for fut in running:
            fut.result(timeout)


# One background thread per process: analyses are heavy and DuckDB uses every core itself.
_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _refresher() -> ThreadPoolExecutor:
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="productops-insights")
        return _EXECUTOR
