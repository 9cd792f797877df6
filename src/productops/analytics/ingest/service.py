"""Event ingest: what Segment and PostHog clients send, turned into stored events.

`ingest_segment(ws, payload)` and `ingest_posthog(ws, payload)` take a decoded request body,
normalise every message into a `store.Event` (plus the `store.IdentityUpdate` that identify,
alias and group calls imply), refuse the messages that cannot be stored — each with its index
and a reason, while the rest of the batch is kept — and return once the events are committed.
Re-sending a batch stores nothing twice: events are deduplicated on Segment's `messageId`,
PostHog's `uuid`, or, when a client sends neither, on an id derived from the message's content.

The pieces are public for the HTTP routes and the bulk importer: `decompress` (gzip with a cap
on the decompressed size), `parse_json` (strict JSON), `normalise_segment`,
`normalise_posthog` and `normalise_record` (one message of any supported shape).

How messages map onto the store:

| Segment call        | PostHog event     | `event`           | `type`     | identity update   |
|---------------------|-------------------|-------------------|------------|-------------------|
| track               | any other event   | the event name    | `track`    | `$set` → identify |
| page                | `$pageview`       | `$pageview`       | `page`     |                   |
| screen              | `$screen`         | `$screen`         | `screen`   |                   |
| identify            | `$identify`       | `$identify`       | `identify` | identify          |
| group               | `$groupidentify`  | `$groupidentify`  | `group`    | group             |
| alias               | `$create_alias`   | `$create_alias`   | `alias`    | alias             |

Times are stored as naive UTC, corrected for the client's clock the way Segment does it:
`ts = received_at - (sent_at - timestamp)`; PostHog's `offset` (milliseconds before sending)
is honoured too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from productops.analytics.settings import events_file
from productops.analytics.store import Event, IdentityUpdate, number_copies, writer_for
from productops.core.clock import naive_utc, utcnow
from productops.core.errors import ProductOpsError

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

SOURCE_SEGMENT = "segment"
SOURCE_POSTHOG = "posthog"
SOURCE_IMPORT = "import"

SEGMENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
# Event names shared by both protocols, so that one analysis reads both.
SEGMENT_EVENT_NAMES = {
    "page": "$pageview",
    "screen": "$screen",
    "identify": "$identify",
    "group": "$groupidentify",
    "alias": "$create_alias",
}
POSTHOG_TYPES = {
    "$pageview": "page",
    "$screen": "screen",
    "$identify": "identify",
    "$groupidentify": "group",
    "$create_alias": "alias",
}
# PostHog group types that mean "the customer account" (first match wins).
ACCOUNT_GROUP_TYPES = ("company", "account", "organization", "organisation", "org")
# Where PostHog clients put the project key inside an event: never stored as a property.
SECRET_KEYS = frozenset({"token", "api_key"})

MAX_NAME_LENGTH = 200
MAX_ID_LENGTH = 200
MAX_REJECTIONS_SHOWN = 100


@dataclass(frozen=True)
class Limits:
    """Size limits of one protocol. Sizes count bytes of JSON after decompression."""

    message_bytes: int
    batch_bytes: int
    max_depth: int = 32


# Segment's documented limits are 32 KB per message and 500 KB per batch (its Python client
# cuts batches at ~475 KB); a little headroom for the envelope.
SEGMENT_LIMITS = Limits(message_bytes=32 * 1024, batch_bytes=512 * 1024)
# PostHog's Python client sends batches of up to 5 MiB and events of up to 900 KiB.
POSTHOG_LIMITS = Limits(message_bytes=1024 * 1024, batch_bytes=8 * 1024 * 1024)


class IngestError(ProductOpsError):
    """The request as a whole cannot be ingested (nothing of it was stored)."""

    status = 400
    code = "invalid_request"


class MalformedPayload(IngestError):
    """The body is not JSON, or not the shape the protocol expects."""

    code = "invalid_json"


class PayloadTooLarge(IngestError):
    """The body or a single message is over the protocol's size limit."""

    status = 413
    code = "too_large"


class UnsupportedEncoding(IngestError):
    """The body is compressed in a way productops does not read."""

    status = 415
    code = "unsupported_encoding"


class Rejected(Exception):
    """One message cannot be stored; `reason` says why in the sender's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


@dataclass
class Normalised:
    """A batch after normalisation: what to store and what was refused."""

    received: int = 0
    events: list[Event] = field(default_factory=list)
    identities: list[IdentityUpdate] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True)
class IngestResult:
    """What happened to a batch: `stored` new events, `duplicates` already stored, and the
    messages refused with their index and reason."""

    received: int
    stored: int
    duplicates: int
    rejected: tuple[Rejection, ...] = ()
    quarantined: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": True,
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "rejected_count": len(self.rejected),
            "rejected": [
                {"index": r.index, "reason": r.reason} for r in self.rejected[:MAX_REJECTIONS_SHOWN]
            ],
        }


# --- bodies --------------------------------------------------------------------------------


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after `Content-Encoding` (gzip or deflate), refusing more than `limit` bytes.

    Decompression stops as soon as the output passes the limit, so a small "gzip bomb" cannot
    make the server allocate gigabytes.
    """
    name = (encoding or "").strip().lower()
    if name in ("", "identity"):
        if len(body) > limit:
            raise PayloadTooLarge(_too_large("the body", len(body), limit))
        return body
    if name in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif name == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise UnsupportedEncoding(
            f"Content-Encoding '{encoding}' is not supported: send gzip or no encoding"
        )
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            d = zlib.decompressobj(wbits)
            chunk = d.decompress(data, limit - size + 1)
            size += len(chunk)
            if size > limit or d.unconsumed_tail:
                raise PayloadTooLarge(
                    f"the body is over {_kib(limit)} once decompressed; send smaller batches"
                )
            out.append(chunk)
            if not d.eof:
                raise MalformedPayload("the gzip body is truncated")
            data = d.unused_data  # a further gzip member, if any
    except zlib.error as exc:
        raise MalformedPayload(f"the body is not valid {name}: {exc}") from exc
    return b"".join(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def parse_json(body: bytes | str) -> Any:
    """Strict JSON: no NaN or Infinity, no numbers beyond a float, bounded nesting."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise MalformedPayload("the body is not valid JSON: it is nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise MalformedPayload("the body is not valid JSON: it is not UTF-8 text") from exc
    except ValueError as exc:
        raise MalformedPayload(f"the body is not valid JSON: {exc}") from exc


# A JSON escape of a UTF-16 surrogate: only these can smuggle unpaired surrogates (which are
# not Unicode text and which the store refuses) into parsed strings.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def may_hold_surrogates(body: bytes) -> bool:
    return _SURROGATE_ESCAPE.search(body) is not None


# --- Segment -------------------------------------------------------------------------------


def normalise_segment(
    payload: Any,
    received_at: dt.datetime,
    call: str | None = None,
    limits: Limits = SEGMENT_LIMITS,
    body_size: int = 0,
    check_text: bool = True,
) -> Normalised:
    """A Segment body — a batch (`{"batch": [...]}`) or one call (`call` = its type) — as
    events to store and messages refused."""
    if not isinstance(payload, dict):
        raise MalformedPayload("the body must be a JSON object")
    batch_sent_at = payload.get("sentAt")
    if call is None:
        messages = payload.get("batch")
        if not isinstance(messages, list):
            raise MalformedPayload("a batch body needs a 'batch' list of messages")
        defaults = {k: payload[k] for k in ("context", "integrations") if k in payload}
    else:
        messages = [payload]
        defaults = {}
    out = Normalised(received=len(messages))
    sized = body_size > limits.message_bytes
    for index, msg in enumerate(messages):
        try:
            check_message(msg, limits, sized, check_text)
            if defaults:
                msg = _with_defaults(msg, defaults)
            event, identity = segment_event(msg, received_at, batch_sent_at, call)
        except Rejected as exc:
            out.rejected.append(Rejection(index, exc.reason))
            continue
        out.events.append(event)
        if identity is not None:
            out.identities.append(identity)
    out.events = number_copies(out.events)
    return out


def _with_defaults(msg: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    merged = dict(msg)
    for key, value in defaults.items():
        own = merged.get(key)
        if isinstance(value, dict) and isinstance(own, dict):
            merged[key] = {**value, **own}
        elif own is None:
            merged[key] = value
    return merged


def segment_event(
    msg: Any,
    received_at: dt.datetime,
    batch_sent_at: Any = None,
    call: str | None = None,
    source: str = SOURCE_SEGMENT,
) -> tuple[Event, IdentityUpdate | None]:
    """One Segment message as an event (and the identity update it implies); raises
    `Rejected` with a reason when it cannot be stored."""
    if not isinstance(msg, dict):
        raise Rejected("a message must be a JSON object")
    kind_value = call or msg.get("type")
    if not isinstance(kind_value, str) or kind_value.lower() not in SEGMENT_TYPES:
        raise Rejected(
            f"'type' is {_show(kind_value)}; it must be one of {', '.join(SEGMENT_TYPES)}"
        )
    kind = kind_value.lower()
    user_id = _id(msg, "userId")
    anonymous_id = _id(msg, "anonymousId")
    previous_id = _id(msg, "previousId") if kind == "alias" else None
    if kind == "alias":
        if not previous_id or not user_id:
            raise Rejected("an alias call needs both 'previousId' and 'userId'")
    elif not user_id and not anonymous_id:
        raise Rejected("neither 'userId' nor 'anonymousId' is set")
    context = _object(msg, "context")
    ts = event_time(
        msg.get("originalTimestamp", msg.get("timestamp")),
        msg.get("sentAt", batch_sent_at),
        received_at,
    )
    own_id = _id(msg, "messageId")
    event_id = own_id or derived_event_id(msg)
    properties: dict[str, Any]
    identity: IdentityUpdate | None = None
    account_id = _id(context, "groupId", strict=False)
    distinct_id = user_id or anonymous_id or ""
    if kind == "track":
        name = msg.get("event")
        if not isinstance(name, str) or not name.strip():
            raise Rejected("a track call needs an 'event' name")
        event_name = _name(name)
        properties = dict(_object(msg, "properties"))
    elif kind in ("page", "screen"):
        event_name = SEGMENT_EVENT_NAMES[kind]
        properties = dict(_object(msg, "properties"))
        for key in ("name", "category"):
            value = msg.get(key)
            if isinstance(value, str) and value and key not in properties:
                properties[key] = value
    elif kind == "identify":
        event_name = SEGMENT_EVENT_NAMES[kind]
        traits = dict(_object(msg, "traits"))
        properties = {"$set": traits}
        if anonymous_id:
            properties["$anon_distinct_id"] = anonymous_id
        identity = IdentityUpdate(
            kind="identify",
            distinct_id=anonymous_id if user_id else None,
            person_id=distinct_id,
            account_id=account_id,
            traits=traits,
            at=ts,
        )
    elif kind == "group":
        event_name = SEGMENT_EVENT_NAMES[kind]
        group_id = _id(msg, "groupId")
        if not group_id:
            raise Rejected("a group call needs a 'groupId'")
        traits = dict(_object(msg, "traits"))
        account_id = group_id
        properties = {"$group_key": group_id, "$group_set": traits}
        identity = IdentityUpdate(
            kind="group", person_id=distinct_id, account_id=group_id, traits=traits, at=ts
        )
    else:  # alias
        event_name = SEGMENT_EVENT_NAMES[kind]
        properties = {"alias": user_id, "previous_id": previous_id}
        identity = IdentityUpdate(kind="alias", distinct_id=previous_id, person_id=user_id, at=ts)
    if account_id is None:
        account_id = _id(properties, "groupId", strict=False)
    library = context.get("library")
    if isinstance(library, dict):
        if isinstance(library.get("name"), str):
            properties.setdefault("$lib", library["name"])
        if isinstance(library.get("version"), str):
            properties.setdefault("$lib_version", library["version"])
    if context:
        properties.setdefault("$context", context)
    event = Event(
        event_id=event_id,
        derived=own_id is None,
        event=event_name,
        type=kind,
        ts=ts,
        received_at=received_at,
        distinct_id=distinct_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        account_id=account_id,
        source=source,
        properties=properties,
    )
    return event, identity


# --- PostHog -------------------------------------------------------------------------------


def posthog_messages(payload: Any) -> tuple[list[Any], Any, bool]:
    """(events, batch-level sent_at, historical migration) of any PostHog capture body: a
    batch (`{"batch": [...]}` or `{"data": [...]}`), a list of events, or one event."""
    if isinstance(payload, list):
        return payload, None, False
    if not isinstance(payload, dict):
        raise MalformedPayload("the body must be a JSON object or a list of events")
    historical = payload.get("historical_migration") is True
    for key in ("batch", "data"):
        if key in payload:
            messages = payload[key]
            if isinstance(messages, dict):
                messages = [messages]
            if not isinstance(messages, list):
                raise MalformedPayload(f"'{key}' must be a list of events")
            return messages, payload.get("sent_at"), historical
    return [payload], payload.get("sent_at"), historical


def normalise_posthog(
    payload: Any,
    received_at: dt.datetime,
    limits: Limits = POSTHOG_LIMITS,
    body_size: int = 0,
    check_text: bool = True,
) -> Normalised:
    """A PostHog capture body as events to store and messages refused."""
    messages, sent_at, historical = posthog_messages(payload)
    out = Normalised(received=len(messages))
    sized = body_size > limits.message_bytes
    for index, msg in enumerate(messages):
        try:
            check_message(msg, limits, sized, check_text)
            event, identities = posthog_event(
                msg, received_at, None if historical else sent_at, skew=not historical
            )
        except Rejected as exc:
            out.rejected.append(Rejection(index, exc.reason))
            continue
        out.events.append(event)
        out.identities.extend(identities)
    out.events = number_copies(out.events)
    return out


# Top-level keys of a PostHog event that are envelope, not properties (for flat records).
_POSTHOG_ENVELOPE = frozenset(
    {
        "event",
        "event_name",
        "distinct_id",
        "properties",
        "timestamp",
        "ts",
        "time",
        "event_time",
        "sent_at",
        "offset",
        "uuid",
        "event_id",
        "message_id",
        "insert_id",
        "user_id",
        "anonymous_id",
        "account_id",
        "group_id",
        "type",
        "$set",
        "$set_once",
        "api_key",
        "token",
        "library",
        "library_version",
        "ip",
        "site_url",
        "now",
        "received_at",
        "source",
    }
)


def posthog_event(
    msg: Any,
    received_at: dt.datetime,
    batch_sent_at: Any = None,
    *,
    skew: bool = True,
    source: str = SOURCE_POSTHOG,
    flat: bool = False,
) -> tuple[Event, list[IdentityUpdate]]:
    """One PostHog event as an event to store (and its identity updates); raises `Rejected`.

    With `flat`, the record may also use the flat import columns (`user_id`, `anonymous_id`,
    `event_id`, `account_id`, …) and its other top-level keys become properties.
    """
    if not isinstance(msg, dict):
        raise Rejected("an event must be a JSON object")
    props = dict(_object(msg, "properties"))
    name = msg.get("event", msg.get("event_name") if flat else None)
    if not isinstance(name, str) or not name.strip():
        raise Rejected("the 'event' name is missing")
    event_name = _name(name)
    user_id = _id(msg, "user_id") if flat else None
    anonymous_id = _id(msg, "anonymous_id") if flat else None
    distinct_id = _id(msg, "distinct_id") or _id(props, "distinct_id") or user_id or anonymous_id
    if not distinct_id:
        raise Rejected("the event has no 'distinct_id'")
    if flat:
        raw_time = next(
            (msg[k] for k in ("timestamp", "ts", "time", "event_time") if msg.get(k) is not None),
            None,
        )
    else:
        raw_time = msg.get("timestamp")
    if skew and msg.get("offset") is not None and raw_time is None:
        offset = msg["offset"]
        if not isinstance(offset, int | float) or isinstance(offset, bool):
            raise Rejected(f"'offset' is {_show(offset)}; it must be milliseconds")
        ts = _shifted(received_at, -float(offset) / 1000)
    else:
        ts = event_time(raw_time, msg.get("sent_at", batch_sent_at) if skew else None, received_at)
    own_id = _id(msg, "uuid") or (
        (_id(msg, "event_id") or _id(msg, "message_id") or _id(msg, "insert_id")) if flat else None
    )
    event_id = own_id or derived_event_id(msg)
    for key in ("$set", "$set_once"):
        value = msg.get(key)
        if value is not None:
            if not isinstance(value, dict):
                raise Rejected(f"'{key}' must be an object")
            props.setdefault(key, value)
    if flat:
        for key, value in msg.items():
            if key not in _POSTHOG_ENVELOPE and key not in props:
                props[key] = value
    traits = props.get("$set")
    if traits is not None and not isinstance(traits, dict):
        raise Rejected("'$set' must be an object")
    # A flat identify or group row carries its traits as plain properties.
    plain = {k: v for k, v in props.items() if not k.startswith("$")} if flat else {}
    account_id = (_id(msg, "account_id") or _id(msg, "group_id")) if flat else None
    groups = props.get("$groups")
    if account_id is None and isinstance(groups, dict) and groups:
        key = next((k for k in ACCOUNT_GROUP_TYPES if k in groups), next(iter(groups)))
        account_id = _id(groups, key, strict=False)
    kind = POSTHOG_TYPES.get(event_name, "track")
    if flat and isinstance(msg.get("type"), str) and msg["type"].lower() in SEGMENT_TYPES:
        kind = msg["type"].lower()
    identities: list[IdentityUpdate] = []
    if kind == "identify":
        anon = _id(props, "$anon_distinct_id") or (
            anonymous_id if anonymous_id != distinct_id else None
        )
        identities.append(
            IdentityUpdate(
                kind="identify",
                distinct_id=anon,
                person_id=distinct_id,
                account_id=account_id,
                traits=dict(traits if traits is not None else plain),
                at=ts,
            )
        )
        user_id = user_id or distinct_id
        anonymous_id = anonymous_id or anon
    elif kind == "alias":
        alias = _id(props, "alias")
        if not alias:
            raise Rejected("a $create_alias event needs 'properties.alias'")
        identities.append(
            IdentityUpdate(kind="alias", distinct_id=distinct_id, person_id=alias, at=ts)
        )
    elif kind == "group":
        group_key = _id(props, "$group_key") or account_id
        if not group_key:
            raise Rejected("a $groupidentify event needs 'properties.$group_key'")
        group_set = props.get("$group_set")
        if group_set is not None and not isinstance(group_set, dict):
            raise Rejected("'$group_set' must be an object")
        account_id = group_key
        identities.append(
            IdentityUpdate(
                kind="group",
                account_id=group_key,
                traits=dict(group_set if group_set is not None else plain),
                at=ts,
            )
        )
    if traits and kind != "identify":
        identities.append(
            IdentityUpdate(kind="identify", person_id=distinct_id, traits=dict(traits), at=ts)
        )
    event = Event(
        event_id=event_id,
        derived=own_id is None,
        event=event_name,
        type=kind,
        ts=ts,
        received_at=received_at,
        distinct_id=distinct_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        account_id=account_id,
        source=source,
        properties=_without_secrets(props),
    )
    return event, identities


# --- any shape (bulk import) -------------------------------------------------------------


_SEGMENT_KEYS = ("userId", "anonymousId", "messageId", "previousId")


def normalise_record(
    record: Any, received_at: dt.datetime, source: str = SOURCE_IMPORT
) -> tuple[Event, list[IdentityUpdate]]:
    """One record of an import file: a Segment message, a PostHog event, or the flat form
    (`event`, `timestamp`, `user_id`/`distinct_id`, `anonymous_id`, `event_id`, `properties`,
    other keys as properties). Raises `Rejected`.
    """
    if not isinstance(record, dict):
        raise Rejected("a record must be a JSON object")
    if any(k in record for k in _SEGMENT_KEYS):
        event, identity = segment_event(record, received_at, source=source)
        return event, [identity] if identity is not None else []
    return posthog_event(record, received_at, skew=False, source=source, flat=True)


# --- storing -------------------------------------------------------------------------------


def store_normalised(ws: Workspace, batch: Normalised, timeout: float = 30.0) -> IngestResult:
    """Write a normalised batch through the workspace's event writer; returns once committed."""
    from productops.analytics import tracking as tracking_plan

    stored = 0
    accepted: list[Event] = list(batch.events)
    held: list[tuple[Event, Any]] = []
    try:
        plan = tracking_plan.load_plan(ws)
    except tracking_plan.TrackingPlanError:
        plan = None  # a broken plan must not lose events: accept them, the page shows why
    if plan is not None:
        accepted, held = tracking_plan.split_for_quarantine(plan, batch.events)

    def hold(con: Any) -> None:
        tracking_plan.quarantine_events(con, [e for e, _ in held], [v for _, v in held])

    if accepted or held or batch.identities:
        result = writer_for(events_file(ws)).write(
            accepted, batch.identities, timeout=timeout, also=hold if held else None
        )
        stored = result.inserted
    return IngestResult(
        received=batch.received,
        stored=stored,
        duplicates=len(accepted) - stored,
        rejected=tuple(batch.rejected),
        quarantined=len(held),
    )


def ingest_segment(
    ws: Workspace,
    payload: Any,
    call: str | None = None,
    received_at: dt.datetime | None = None,
) -> IngestResult:
    """Store a Segment batch (or one call of type `call`); see the module docstring."""
    batch = normalise_segment(payload, received_at or naive_utc(utcnow()), call=call)
    return store_normalised(ws, batch)


def ingest_posthog(
    ws: Workspace, payload: Any, received_at: dt.datetime | None = None
) -> IngestResult:
    """Store a PostHog capture body; see the module docstring."""
    batch = normalise_posthog(payload, received_at or naive_utc(utcnow()))
    return store_normalised(ws, batch)


# --- helpers -------------------------------------------------------------------------------


_NAMESPACE = uuid.UUID("5b1c2a4e-6f0d-4d1e-9a57-0c7d3e1f2a90")


def derived_event_id(msg: Mapping[str, Any]) -> str:
    """A stable id for a message sent without one, so that re-sending it is still a no-op."""
    canonical = json.dumps(msg, sort_keys=True, separators=(",", ":"), default=str)
    return str(uuid.uuid5(_NAMESPACE, canonical))


def parse_time(value: Any, what: str = "timestamp") -> dt.datetime | None:
    """An ISO 8601 string or epoch number (seconds, or milliseconds when that large) as naive
    UTC; None when absent. Raises `Rejected` on anything else."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            seconds = float(value) / 1000 if abs(value) > 1e11 else float(value)
            return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)
        if isinstance(value, str) and len(value) <= 64:
            text = value.strip()
            parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
            return parsed
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    raise Rejected(f"'{what}' is {_show(value)}, which is not an ISO 8601 time")


# Event times outside these bounds are refused: they are mistakes, and they would break the
# store's time-window arithmetic.
MIN_TIME = dt.datetime(1970, 1, 1)
MAX_TIME = dt.datetime(2100, 1, 1)


def event_time(raw: Any, sent_at_raw: Any, received_at: dt.datetime) -> dt.datetime:
    """When the event happened, corrected for the client's clock (Segment's rule)."""
    ts = parse_time(raw)
    if ts is None:
        return received_at
    try:
        sent_at = parse_time(sent_at_raw, "sentAt")
    except Rejected:
        sent_at = None  # a broken sentAt only costs the clock correction
    if sent_at is None:
        return _in_range(ts)
    return _shifted(received_at, (ts - sent_at).total_seconds())


def _in_range(ts: dt.datetime) -> dt.datetime:
    if not MIN_TIME <= ts < MAX_TIME:
        raise Rejected(
            f"the time {ts.isoformat()} is out of range ({MIN_TIME.year} to {MAX_TIME.year - 1})"
        )
    return ts


def _shifted(base: dt.datetime, seconds: float) -> dt.datetime:
    try:
        return _in_range(base + dt.timedelta(seconds=seconds))
    except OverflowError as exc:
        raise Rejected("the timestamp is out of range") from exc


def _id(obj: Mapping[str, Any], key: str, strict: bool = True) -> str | None:
    """An identifier: strings and numbers are accepted, empty means absent. Not `strict`
    (an optional hint such as a group id in the properties): a bad value means absent."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        if not strict:
            return None
        raise Rejected(f"'{key}' is {_show(value)}; it must be a string")
    text = (value if isinstance(value, str) else str(value)).strip()
    if len(text) > MAX_ID_LENGTH:
        if not strict:
            return None
        raise Rejected(f"'{key}' is longer than {MAX_ID_LENGTH} characters")
    return text or None


def _name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Rejected(f"the event name is longer than {MAX_NAME_LENGTH} characters")
    return name


def _object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(f"'{key}' is {_show(value)}; it must be an object")
    return value


def _without_secrets(properties: dict[str, Any]) -> dict[str, Any]:
    if SECRET_KEYS.isdisjoint(properties):
        return properties
    return {k: v for k, v in properties.items() if k not in SECRET_KEYS}


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _kib(n: int) -> str:
    return f"{n // 1024:,} KiB"


def _too_large(what: str, size: int, limit: int) -> str:
    return f"{what} is {size:,} bytes; the limit is {_kib(limit)}"


def check_message(msg: Any, limits: Limits, sized: bool, check_text: bool) -> None:
    """Refuse a message that is too large (measured only when `sized`: the body holding it is
    over the limit), nested too deeply, or holding broken Unicode (looked for only when
    `check_text`: the body has surrogate escapes)."""
    if sized:
        size = len(
            json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass"
            )
        )
        if size > limits.message_bytes:
            raise Rejected(_too_large("the message", size, limits.message_bytes))
    if not isinstance(msg, dict | list):
        return
    stack: list[tuple[Any, int]] = [(msg, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limits.max_depth:
            raise Rejected(f"the message is nested deeper than {limits.max_depth} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if check_text:
                _check_text(key)
                _check_text(item)
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Rejected("the message holds text that is not valid Unicode") from exc
