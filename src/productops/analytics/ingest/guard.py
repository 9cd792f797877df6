"""Keeping ingest cheap for callers who have not shown a valid key.

Segment and PostHog clients may send their key inside the body (PostHog's Python client puts
`api_key` *last*), so the key of an unauthenticated request cannot be read without looking
at the body. Parsing a large JSON body costs far more than inflating and scanning it, so a
stranger's body is never parsed: its key is found in the bytes, where clients put it, and
checked before `json.loads` runs:

- the first member of the top-level object (`{"api_key": …` — posthog-node, curl examples):
  only the first `HEAD_BYTES` are inflated to read it, so a bomb behind an unknown key is
  refused after a few KiB;
- the last member (`…, "api_key": "…"}` — posthog-python, and Segment's `writeKey`):
  read from the end of the inflated body (inflating is bounded by the protocol's limit and
  costs ~0.4 ms per MB here; the parse it saves, 10 to 50 ms per MB);
- anywhere else (posthog-js puts `token` in each event's properties): the first strings
  shaped like a productops key (`po_<prefix>_<secret>`), a few at most.

The key the parsed body names is still checked afterwards with the protocol's own rules
(`routes._posthog_body_key`), so finding a key cheaply never lets in more than before.

Around that, `IngestGuard` bounds what strangers can make the server do at once (`Gate`:
a few bodies screened at a time, the rest wait in a short line or get 503), and answers
the repeated failures of one address, or a flood of them from many, ever more slowly
(`Offenders`: a held 401 costs no CPU and slows an attacker's loop; clients do not retry a
401, so nobody legitimate waits twice). The address is `web.deps.client_ip`'s (the peer,
or the client a trusted proxy names). Nothing here refuses a valid key because of its
address: behind an untrusted proxy every client shares one.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import os
import re
import threading
import time
import zlib
from dataclasses import dataclass, field

# Enough for the first member of any real client's body (pretty-printed too).
HEAD_BYTES = 4096
# Key-shaped strings looked at, and distinct ones checked against the database, per body.
MAX_KEY_LOOKS = 64
MAX_KEY_LOOKUPS = 4
# The longest key `core.auth.api_key_for_secret` reads.
MAX_KEY_LENGTH = 200

GUARD_ENV = "PRODUCTOPS_INGEST_GUARD"


# --- finding the key in the bytes ----------------------------------------------------------


def _member(name: str) -> bytes:
    return b'"' + re.escape(name.encode()) + rb'"\s*:\s*"([^"\\]{1,200})"'


def head_key(prefix: bytes, name: str) -> str | None:
    """The value of `name` when it is the first member of the top-level object, read from
    the start of the (inflated) body; None when the body does not start that way.

    Only an unescaped string counts: anything else is left to the parse."""
    m = re.match(rb"\s*\{\s*" + _member(name), prefix)
    return m.group(1).decode("utf-8", "replace") if m else None


def tail_key(body: bytes, name: str) -> str | None:
    """The value of `name` when it is the last member of the top-level object.

    In valid JSON text ending `… [{,] "name": "v" }` (v without quote or backslash) every
    quote shown is unescaped, so `name` is a member of the object the final brace closes,
    and the parser keeps the last of duplicate members: the parse would read exactly v."""
    pattern = rb"[{,]\s*" + _member(name) + rb"\s*\}\s*\Z"
    m = re.compile(pattern).search(body, max(0, len(body) - MAX_KEY_LENGTH - 300))
    return m.group(1).decode("utf-8", "replace") if m else None


_KEY_STRING = re.compile(rb'po_[A-Za-z0-9]{1,64}_[A-Za-z0-9_\-]{1,180}"')


def key_candidates(
    body: bytes, looks: int = MAX_KEY_LOOKS, most: int = MAX_KEY_LOOKUPS
) -> list[str]:
    """JSON strings in the body shaped like a productops key, in order of appearance: at
    most `most` distinct ones among the first `looks` strings starting `po_`.

    Every valid key is shaped so (`po_<hex>_<urlsafe>`) and real clients write it
    unescaped, so a body holding none of these carries no valid key."""
    found: list[str] = []
    pos = 0
    for _ in range(looks):
        at = body.find(b'"po_', pos)
        if at < 0:
            break
        pos = at + 4
        m = _KEY_STRING.match(body, at + 1)
        if m is None:
            continue
        key = m.group()[:-1].decode("ascii")
        if key not in found:
            found.append(key)
            if len(found) >= most:
                break
    return found


def inflate_prefix(body: bytes, encoding: str | None, size: int = HEAD_BYTES) -> bytes:
    """At most the first `size` bytes of the body after its Content-Encoding, inflating no
    further; b"" when the encoding is unknown or the data broken (the full inflation that
    follows names the problem)."""
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        return body[:size]
    if name in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif name == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        return b""
    try:
        return zlib.decompressobj(wbits).decompress(body, size)
    except zlib.error:
        return b""


# --- bounding the work -----------------------------------------------------------------------


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False


class Gate:
    """At most `slots` holders at once, across threads and event loops; up to `max_waiting`
    more wait their turn in order, the rest are turned away."""

    def __init__(self, slots: int, max_waiting: int) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self._free = slots
        self._waiting: collections.deque[_Waiter] = collections.deque()
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        with self._lock:
            return self.slots - self._free

    async def enter(self, timeout: float) -> bool:
        """True once a slot is held (give it back with `leave`); False when the line is full
        or the slot did not come within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return True
            if len(self._waiting) >= self.max_waiting:
                return False
            waiter = _Waiter(loop, loop.create_future())
            self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except TimeoutError:
            return not self._withdraw(waiter)  # granted just as the time ran out: keep it
        except BaseException:
            if not self._withdraw(waiter):
                self.leave()  # granted, but this request is gone: pass the slot on
            raise
        return True

    def _withdraw(self, waiter: _Waiter) -> bool:
        with self._lock:
            if waiter.granted:
                return False
            self._waiting.remove(waiter)
            return True

    def leave(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._free += 1
                    return
                waiter = self._waiting.popleft()
                waiter.granted = True
            try:
                waiter.loop.call_soon_threadsafe(_grant, waiter.future)
                return
            except RuntimeError:  # its event loop has closed: the next in line
                continue


def _grant(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def client_address(host: str | None) -> str:
    """Whom failures are counted against: the IP address, an IPv6 one by its /64 (one
    subscriber's whole range)."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Offenders:
    """Recent refusals, per address and in all, forgotten with a half-life. Past the first
    `free` of one address (or `free_overall` of all addresses: an attack from many), each
    refusal waits twice as long as the one before, up to `max_delay` seconds. Only refusals
    wait, so a storm of them slows nobody with a valid key."""

    def __init__(
        self,
        free: int = 3,
        free_overall: int = 100,
        first_delay: float = 0.1,
        max_delay: float = 2.0,
        half_life: float = 30.0,
        max_tracked: int = 10_000,
    ) -> None:
        self.free = free
        self.free_overall = free_overall
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.half_life = half_life
        self.max_tracked = max_tracked
        self._scores: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._overall = (0.0, 0.0)
        self._lock = threading.Lock()

    def _decayed(self, score: float, last: float, now: float) -> float:
        return float(score * 0.5 ** (max(0.0, now - last) / self.half_life))

    def _delay(self, score: float, free: int) -> float:
        if score <= free:
            return 0.0
        return min(self.max_delay, self.first_delay * float(2.0 ** (score - free - 1)))

    def failed(self, who: str, now: float | None = None) -> float:
        """Count a refusal; the seconds to wait before answering it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            score = self._decayed(*self._scores.get(who, (0.0, now)), now) + 1
            overall = self._decayed(*self._overall, now) + 1
            self._scores[who] = (score, now)
            self._scores.move_to_end(who)
            self._overall = (overall, now)
            while len(self._scores) > self.max_tracked:
                self._scores.popitem(last=False)
        return max(self._delay(score, self.free), self._delay(overall, self.free_overall))


@dataclass
class IngestGuard:
    """One app's bounds on unauthenticated ingest work (see the module docstring).

    `enabled=False` (the environment variable PRODUCTOPS_INGEST_GUARD=off, for benchmarks
    only) restores parsing before the key is known, with no gate and no delays."""

    enabled: bool = True
    gate: Gate = field(default_factory=lambda: Gate(slots=2, max_waiting=64))
    wait_seconds: float = 5.0
    offenders: Offenders = field(default_factory=Offenders)
    max_held: int = 1024
    _held: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_environment(cls) -> IngestGuard:
        return cls(enabled=os.environ.get(GUARD_ENV, "on").strip().lower() != "off")

    def refused(self, host: str | None) -> float:
        """Count an authentication failure from `host`; the seconds to hold its answer."""
        if not self.enabled:
            return 0.0
        return self.offenders.failed(client_address(host))

    async def hold(self, seconds: float) -> None:
        """Wait before answering a refusal (no thread, no CPU); at once when `max_held`
        answers are already waiting."""
        if seconds <= 0:
            return
        with self._lock:
            if self._held >= self.max_held:
                return
            self._held += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            with self._lock:
                self._held -= 1
