"""JSON over the house's outbound guard, with the manners sources expect: a rate limit is
waited out (up to a limit) — Jira's 429 with `Retry-After`, Linear's 429 or 400 whose
GraphQL error says `RATELIMITED`, with the reset time of its `X-RateLimit-*-Reset` headers —
server errors and dropped connections are retried with a growing pause, and a refused
credential or a malformed answer stops the sync with a message naming the source and the
page."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from productops.core import outbound
from productops.core.errors import BlockedURL, OutboundError
from productops.portfolio.connectors.records import SyncError

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Linear's reset headers, in epoch milliseconds (the requests budget, then the complexity one).
RESET_HEADERS = (
    "x-ratelimit-requests-reset",
    "x-ratelimit-complexity-reset",
    "x-ratelimit-endpoint-reset",
    "x-ratelimit-reset",
)


@dataclass
class Client:
    """One source's endpoint: its base URL, headers (credentials) and retry rules."""

    base_url: str
    headers: dict[str, str]
    policy: outbound.OutboundPolicy
    source: str  # "Jira", "Linear": for messages
    max_retries: int = 5
    max_wait_seconds: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0
    waited_seconds: float = 0.0
    server_seconds: float = 0.0
    _log: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """The parsed JSON answer of `method path`; `what` names the request in errors
        ("page 3 of the issues")."""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = outbound.request(
                    method,
                    self.url(path),
                    policy=self.policy,
                    headers={"accept": "application/json", **self.headers},
                    json=json_body,
                    params=params,
                )
            except BlockedURL:
                raise
            except OutboundError as exc:
                if attempt > self.max_retries:
                    raise SyncError(f"{self.source}: {what}: {exc}") from None
                self._pause(min(2.0 ** (attempt - 1), self.max_wait_seconds))
                continue
            finally:
                self.requests += 1
                self.server_seconds += time.perf_counter() - started
            retry = response.status_code in RETRY_STATUSES or _graphql_rate_limited(response)
            if retry and attempt <= self.max_retries:
                self._pause(self._retry_after(response, attempt, what))
                continue
            if not response.is_success:
                raise SyncError(self._refusal(response, what))
            try:
                return json.loads(response.content)
            except ValueError:
                raise SyncError(
                    f"{self.source}: {what} is not JSON (answer of {response.status_code}, "
                    f"{len(response.content)} bytes)"
                ) from None

    def _pause(self, seconds: float) -> None:
        self.waited_seconds += seconds
        self.sleep(seconds)

    def _retry_after(self, response: outbound.OutboundResponse, attempt: int, what: str) -> float:
        header = response.headers.get("retry-after", "").strip()
        wait: float
        reset = _reset_in(response)
        if header.replace(".", "", 1).isdigit():
            wait = float(header)
        elif reset is not None:
            wait = reset
        else:
            wait = min(2.0 ** (attempt - 1), self.max_wait_seconds)
        if wait > self.max_wait_seconds:
            raise SyncError(
                f"{self.source}: {what}: rate limited for {wait:g} s (more than the "
                f"{self.max_wait_seconds:g} s a sync waits); try again later"
            )
        return wait

    def _refusal(self, response: outbound.OutboundResponse, what: str) -> str:
        status = response.status_code
        detail = _detail(response)
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            return (
                f"{self.source} refused the credentials ({status}) for {what}: check the "
                f"account and its token{': ' + detail if detail else ''}"
            )
        if status == 410:
            return f"{self.source}: {what}: this endpoint is gone (410){said}"
        if status in RETRY_STATUSES or _graphql_rate_limited(response):
            return (
                f"{self.source}: {what}: still failing ({status}) after {self.max_retries} retries"
            )
        return f"{self.source}: {what}: answered {status}{': ' + detail if detail else ''}"


def _graphql_rate_limited(response: outbound.OutboundResponse) -> bool:
    """Linear answers a rate-limited query with a GraphQL error whose code is RATELIMITED
    (with a 400 as well as a 429)."""
    if response.status_code != 400 or b"RATELIMITED" not in response.content:
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict)
        and isinstance(e.get("extensions"), dict)
        and e["extensions"].get("code") == "RATELIMITED"
        for e in errors
    )


def _reset_in(response: outbound.OutboundResponse) -> float | None:
    """Seconds until the budget a `X-RateLimit-*-Reset` header names comes back (an epoch
    in milliseconds or seconds), or None without one."""
    for name in RESET_HEADERS:
        raw = response.headers.get(name, "").strip()
        if not raw.replace(".", "", 1).isdigit():
            continue
        at = float(raw)
        if at > 1e11:  # milliseconds
            at /= 1000
        if at > 1e9:  # an epoch
            return max(0.0, round(at - time.time(), 3))
        return at  # already a number of seconds
    return None


def _detail(response: outbound.OutboundResponse) -> str:
    """Jira's `errorMessages` / `errors`, GraphQL's `errors`, or the start of the body."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.text[:200].strip()
    messages: list[str] = []
    if isinstance(body, dict):
        for m in body.get("errorMessages") or []:
            messages.append(str(m))
        errors = body.get("errors")
        if isinstance(errors, dict):
            messages += [f"{k}: {v}" for k, v in errors.items()]
        elif isinstance(errors, list):
            messages += [
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            ]
        if not messages and "message" in body:
            messages.append(str(body["message"]))
    return "; ".join(messages)[:500]
