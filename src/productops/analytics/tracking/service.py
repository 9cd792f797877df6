"""The tracking plan: which events a product should send, with which properties, checked
against what it really sends (like Segment Protocols or Avo).

The plan is `tracking-plan.yml` in the workspace::

    naming: snake_case          # optional: snake_case | "Title Case" | camelCase
    quarantine: false           # optional: true, false, or a list of violation kinds
    ignore: ["$*"]              # optional: events not checked (PostHog's own by default)
    events:
      signed_up:
        description: A person created an account
        properties:
          plan: {type: string, required: true, enum: [free, pro, enterprise]}
          seats: integer        # shorthand: an optional property of that type
          email: {type: string, pattern: "^[^@]+@[^@]+$"}

Property types: string, number, integer, boolean, datetime (an ISO 8601 string), object,
array. A property sent as `null` counts as absent. `check_event` checks one event (cheap
enough to run at ingest); `violations_report` checks the stored events in DuckDB;
`split_for_quarantine`, `quarantine_events` and `release_quarantine` hold violating events
aside in the `quarantine` table until someone lets them in.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import yaml

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace

PLAN_FILE = "tracking-plan.yml"
TYPES = ("string", "number", "integer", "boolean", "datetime", "object", "array")
NAMING_CONVENTIONS: dict[str, re.Pattern[str]] = {
    "snake_case": re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"),
    "Title Case": re.compile(r"[A-Z0-9][A-Za-z0-9]*(?: [A-Z0-9][A-Za-z0-9]*)*"),
    "camelCase": re.compile(r"[a-z][a-z0-9]*(?:[A-Z0-9][a-z0-9]*)*"),
}
DEFAULT_IGNORE = ("$*",)
# The same expression runs in Python (`check_event`) and in DuckDB (`violations_report`).
DATETIME_RE = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_DATETIME = re.compile(DATETIME_RE)
EXAMPLE_MAX = 120
_NAME_CACHE_MAX = 10_000


class Kind(StrEnum):
    """What is wrong with an event."""

    UNKNOWN_EVENT = "unknown_event"
    MISSING_PROPERTY = "missing_property"
    MISTYPED_PROPERTY = "mistyped_property"
    VALUE_NOT_ALLOWED = "value_not_allowed"
    NAMING_DRIFT = "naming_drift"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.UNKNOWN_EVENT: "Unknown event",
    Kind.MISSING_PROPERTY: "Missing property",
    Kind.MISTYPED_PROPERTY: "Mistyped property",
    Kind.VALUE_NOT_ALLOWED: "Value not allowed",
    Kind.NAMING_DRIFT: "Naming drift",
}


class TrackingPlanError(InvalidInput):
    """`tracking-plan.yml` has mistakes; `errors` lists each, with its line."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class PropertySpec:
    """One expected property of an event."""

    name: str
    type: str
    required: bool = False
    allowed: tuple[str | int | float | bool, ...] | None = None
    pattern: str | None = None
    description: str = ""
    line: int = 0
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def rule(self) -> str:
        """The value rule in words: 'one of free, pro', 'matches ^x$'."""
        parts = []
        if self.allowed is not None:
            parts.append("one of " + ", ".join(_show(v) for v in self.allowed))
        if self.pattern is not None:
            parts.append(f"matches {self.pattern}")
        return "; ".join(parts)


@dataclass(frozen=True)
class EventSpec:
    """One expected event."""

    name: str
    properties: tuple[PropertySpec, ...] = ()
    description: str = ""
    line: int = 0


@dataclass(frozen=True)
class TrackingPlan:
    """A loaded, validated tracking plan."""

    events: dict[str, EventSpec]
    naming: str | None = None
    quarantine: frozenset[Kind] = frozenset()
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    path: Path | None = None
    _ignore_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _planned_keys: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    _name_cache: dict[str, tuple[Violation, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if self.ignore:
            joined = "|".join(f"(?:{fnmatch.translate(p)})" for p in self.ignore)
            object.__setattr__(self, "_ignore_re", re.compile(joined))
        keys = {naming_key(name): name for name in self.events}
        self._planned_keys.update(keys)

    def is_ignored(self, event_name: str) -> bool:
        """Events matching `ignore` (and not planned) are not checked at all."""
        if event_name in self.events or self._ignore_re is None:
            return False
        return self._ignore_re.match(event_name) is not None

    def planned_name_for(self, event_name: str) -> str | None:
        """The planned event whose name normalises like `event_name`, if another."""
        planned = self._planned_keys.get(naming_key(event_name))
        return planned if planned is not None and planned != event_name else None


@dataclass(frozen=True)
class Violation:
    """One way in which one event breaks the plan."""

    kind: Kind
    event: str
    property: str | None
    detail: str
    value: str | None = None  # the offending value as JSON text, shortened

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "event": self.event,
            "property": self.property,
            "detail": self.detail,
            "value": self.value,
        }


@dataclass(frozen=True)
class ViolationSummary:
    """One row of the violations report: how often stored events broke one rule."""

    event: str
    property: str | None
    kind: Kind
    detail: str
    count: int
    by_source: dict[str, int]
    first_seen: dt.datetime
    last_seen: dt.datetime
    example: str | None = None
    quarantined: int = 0


@dataclass(frozen=True)
class ReleaseResult:
    released: int  # rows taken out of quarantine
    inserted: int  # of those, how many were new to `events` (the rest were duplicates)


# --- naming ------------------------------------------------------------------------------


def naming_key(name: str) -> str:
    """The name with case and separators folded: 'Signed Up', 'signedUp' → 'signed_up'."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return re.sub(r"[\W_]+", "_", s).strip("_").lower()


def follows_convention(name: str, naming: str) -> bool:
    return NAMING_CONVENTIONS[naming].fullmatch(name) is not None


# --- loading -----------------------------------------------------------------------------

_TOP_KEYS = ("naming", "quarantine", "ignore", "events", "description")
_EVENT_KEYS = ("description", "properties")
_PROPERTY_KEYS = ("type", "required", "enum", "allowed", "pattern", "description")


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.errors: list[str] = []
        self._loader = yaml.SafeLoader(text)

    def error(self, node: yaml.Node | None, message: str) -> None:
        where = f" line {node.start_mark.line + 1}" if node is not None else ""
        self.errors.append(f"{self.filename}{where}: {message}")

    def value(self, node: yaml.Node) -> Any:
        return self._loader.construct_object(node, deep=True)

    def mapping(
        self, node: yaml.Node, what: str, allowed: Sequence[str] | None = None
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (key, key node, value node) pairs of a mapping, complaining about the rest."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} should be a mapping of names to settings")
            return []
        seen: set[str] = set()
        pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, f"{what}: keys must be plain names")
                continue
            key = str(key_node.value)
            if key in seen:
                self.error(key_node, f"{what}: '{key}' appears twice")
                continue
            seen.add(key)
            if allowed is not None and key not in allowed:
                self.error(
                    key_node, f"{what}: unknown key '{key}' (expected one of {', '.join(allowed)})"
                )
                continue
            pairs.append((key, key_node, value_node))
        return pairs

    def parse(self) -> TrackingPlan | None:
        try:
            return self._parse()
        finally:
            self._loader.dispose()

    def _parse(self) -> TrackingPlan | None:
        try:
            root = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f" line {mark.line + 1}" if mark is not None else ""
            problem = exc.problem or exc.context or "not valid YAML"
            self.errors.append(f"{self.filename}{line}: not valid YAML: {problem}")
            return None
        except yaml.YAMLError as exc:
            self.errors.append(f"{self.filename}: not valid YAML: {exc}")
            return None
        if root is None:
            self.errors.append(f"{self.filename}: the file is empty; it needs an 'events:' mapping")
            return None
        naming: str | None = None
        quarantine: frozenset[Kind] = frozenset()
        ignore: tuple[str, ...] = DEFAULT_IGNORE
        events: dict[str, EventSpec] = {}
        events_node: yaml.Node | None = None
        if not isinstance(root, yaml.MappingNode):
            self.error(root, "the plan should be a mapping with an 'events:' key")
            return None
        for key, _, node in self.mapping(root, "the plan", _TOP_KEYS):
            if key == "naming":
                naming = self._naming(node)
            elif key == "quarantine":
                quarantine = self._quarantine(node)
            elif key == "ignore":
                ignore = self._ignore(node)
            elif key == "events":
                events_node = node
        if events_node is None:
            self.error(root, "the plan has no 'events:' mapping")
            return None
        if not (isinstance(events_node, yaml.ScalarNode) and self.value(events_node) is None):
            keys: dict[str, EventSpec] = {}
            for name, name_node, node in self.mapping(events_node, "events"):
                spec = self._event(name, name_node, node, naming)
                if spec is None:
                    continue
                twin = keys.get(naming_key(name))
                if twin is not None:
                    self.error(
                        name_node,
                        f"event '{name}': the plan already has '{twin.name}' (line {twin.line}); "
                        "names that differ only in case or separators are naming drift",
                    )
                    continue
                keys[naming_key(name)] = spec
                events[name] = spec
        if self.errors:
            return None
        return TrackingPlan(events=events, naming=naming, quarantine=quarantine, ignore=ignore)

    def _naming(self, node: yaml.Node) -> str | None:
        value = self.value(node)
        if value is None:
            return None
        if value not in NAMING_CONVENTIONS:
            choices = ", ".join(f"'{c}'" for c in NAMING_CONVENTIONS)
            self.error(node, f"naming: unknown convention {_show(value)} (use one of {choices})")
            return None
        return str(value)

    def _quarantine(self, node: yaml.Node) -> frozenset[Kind]:
        value = self.value(node)
        if value is True:
            return frozenset(Kind)
        if value is False or value is None:
            return frozenset()
        if isinstance(value, list):
            kinds = set()
            for item in value:
                try:
                    kinds.add(Kind(item))
                except ValueError:
                    choices = ", ".join(k.value for k in Kind)
                    self.error(
                        node, f"quarantine: unknown kind {_show(item)} (use one of {choices})"
                    )
            return frozenset(kinds)
        self.error(node, "quarantine: use true, false or a list of violation kinds")
        return frozenset()

    def _ignore(self, node: yaml.Node) -> tuple[str, ...]:
        value = self.value(node)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(node, "ignore: use a list of event names or patterns such as '$*'")
            return DEFAULT_IGNORE
        return tuple(value)

    def _event(
        self, name: str, name_node: yaml.Node, node: yaml.Node, naming: str | None
    ) -> EventSpec | None:
        what = f"event '{name}'"
        if not name.strip() or "\x00" in name:
            self.error(name_node, "an event name is empty or holds a NUL character")
            return None
        if naming is not None and not follows_convention(name, naming):
            self.error(name_node, f"{what}: the name does not follow the {naming} convention")
        if isinstance(node, yaml.ScalarNode) and self.value(node) is None:
            return EventSpec(name=name, line=name_node.start_mark.line + 1)
        description = ""
        props: list[PropertySpec] = []
        for key, _, value_node in self.mapping(node, what, _EVENT_KEYS):
            if key == "description":
                description = str(self.value(value_node) or "")
            elif isinstance(value_node, yaml.ScalarNode) and self.value(value_node) is None:
                continue
            else:
                for prop, prop_node, spec_node in self.mapping(value_node, f"{what}: properties"):
                    spec = self._property(what, prop, prop_node, spec_node)
                    if spec is not None:
                        props.append(spec)
        return EventSpec(
            name=name,
            properties=tuple(props),
            description=description,
            line=name_node.start_mark.line + 1,
        )

    def _property(
        self, event_what: str, name: str, name_node: yaml.Node, node: yaml.Node
    ) -> PropertySpec | None:
        what = f"{event_what}: property '{name}'"
        line = name_node.start_mark.line + 1
        if "\x00" in name:
            self.error(name_node, f"{event_what}: a property name holds a NUL character")
            return None
        if isinstance(node, yaml.ScalarNode):
            type_name = self.value(node)
            if type_name not in TYPES:
                self._unknown_type(node, what, type_name)
                return None
            return PropertySpec(name=name, type=str(type_name), line=line)
        settings: dict[str, tuple[yaml.Node, Any]] = {
            key: (value_node, self.value(value_node))
            for key, _, value_node in self.mapping(node, what, _PROPERTY_KEYS)
        }
        if "type" not in settings:
            self.error(node, f"{what}: 'type' is missing (one of {', '.join(TYPES)})")
            return None
        type_node, type_name = settings["type"]
        if type_name not in TYPES:
            self._unknown_type(type_node, what, type_name)
            return None
        required = False
        if "required" in settings:
            req_node, req = settings["required"]
            if not isinstance(req, bool):
                self.error(req_node, f"{what}: required should be true or false, not {_show(req)}")
            required = req is True
        if "enum" in settings and "allowed" in settings:
            self.error(settings["allowed"][0], f"{what}: give either 'enum' or 'allowed', not both")
        allowed = None
        given = settings.get("enum") or settings.get("allowed")
        if given is not None:
            allowed = self._allowed(what, str(type_name), *given)
        pattern = None
        regex = None
        if "pattern" in settings:
            pat_node, pat = settings["pattern"]
            regex = self._pattern(what, str(type_name), pat_node, pat)
            pattern = str(pat) if regex is not None else None
        description = str(settings["description"][1] or "") if "description" in settings else ""
        return PropertySpec(
            name=name,
            type=str(type_name),
            required=required,
            allowed=allowed,
            pattern=pattern,
            description=description,
            line=line,
            regex=regex,
        )

    def _unknown_type(self, node: yaml.Node, what: str, type_name: Any) -> None:
        shown = f"'{type_name}'" if isinstance(type_name, str) else _show(type_name)
        self.error(node, f"{what}: unknown type {shown} (use one of {', '.join(TYPES)})")

    def _allowed(
        self, what: str, type_name: str, node: yaml.Node, value: Any
    ) -> tuple[str | int | float | bool, ...] | None:
        if not isinstance(value, list) or not value:
            self.error(node, f"{what}: allowed values should be a non-empty list")
            return None
        if type_name in {"object", "array"}:
            self.error(node, f"{what}: allowed values only apply to plain values, not {type_name}")
            return None
        out: list[str | int | float | bool] = []
        for item in value:
            if isinstance(item, dt.date) and type_name == "datetime":
                item = item.isoformat()
            if not _type_ok(type_name, item):
                hint = " (quote it)" if type_name in {"string", "datetime"} else ""
                self.error(
                    node,
                    f"{what}: allowed value {_show(item)} is {_article(_json_kind(item))}, "
                    f"not {_article(type_name)}{hint}",
                )
                continue
            if type_name in {"number", "integer"} and item != item:  # NaN
                self.error(node, f"{what}: allowed value NaN is not a number")
                continue
            out.append(item)
        return tuple(out)

    def _pattern(
        self, what: str, type_name: str, node: yaml.Node, value: Any
    ) -> re.Pattern[str] | None:
        if type_name not in {"string", "datetime"}:
            self.error(node, f"{what}: a pattern only applies to strings, not {type_name}")
            return None
        if not isinstance(value, str) or "\x00" in value:
            self.error(node, f"{what}: the pattern should be a regular expression in quotes")
            return None
        try:
            regex = re.compile(value, re.ASCII)
        except re.error as exc:
            self.error(node, f"{what}: the pattern {value!r} is not a regular expression: {exc}")
            return None
        try:  # the report runs it in DuckDB (RE2), which knows fewer tricks than Python
            with duckdb.connect() as con:
                con.execute("SELECT regexp_matches('', ?)", [value]).fetchall()
        except duckdb.Error:
            self.error(
                node,
                f"{what}: the pattern {value!r} uses syntax DuckDB cannot run "
                "(look-arounds and back-references are not supported)",
            )
            return None
        return regex


def parse_plan(text: str, filename: str = PLAN_FILE) -> TrackingPlan:
    """Validate a tracking plan's YAML; `TrackingPlanError` names the line of each mistake."""
    parser = _Parser(text, filename)
    plan = parser.parse()
    if plan is None or parser.errors:
        errors = parser.errors or [f"{filename}: not a tracking plan"]
        raise TrackingPlanError(sorted(errors, key=_line_of))
    return plan


def _line_of(message: str) -> int:
    found = re.match(r"[^:]* line (\d+):", message)
    return int(found.group(1)) if found else 0


_CACHE: dict[Path, tuple[int, int, TrackingPlan]] = {}
_CACHE_LOCK = threading.Lock()


def plan_path(ws: Workspace) -> Path:
    return ws.path / PLAN_FILE


def load_plan(ws: Workspace) -> TrackingPlan | None:
    """The workspace's tracking plan, or None when it has no `tracking-plan.yml`.

    The parsed plan is kept until the file changes, so calling this per ingest batch is cheap.
    """
    path = plan_path(ws)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TrackingPlanError([f"{PLAN_FILE}: not UTF-8 text ({exc.reason})"]) from exc
    parsed = parse_plan(text, PLAN_FILE)
    plan = TrackingPlan(
        events=parsed.events,
        naming=parsed.naming,
        quarantine=parsed.quarantine,
        ignore=parsed.ignore,
        path=path,
    )
    with _CACHE_LOCK:
        _CACHE[path] = (stat.st_mtime_ns, stat.st_size, plan)
    return plan


# --- checking one event ------------------------------------------------------------------


def _json_kind(value: Any) -> str:
    """The JSON type a value is stored as (anything unusual is stored as its text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "string"


def _type_ok(type_name: str, value: Any) -> bool:
    kind = _json_kind(value)
    if type_name == "number":
        return kind in {"integer", "number"}
    if type_name == "integer":
        return kind == "integer" or (kind == "number" and float(value).is_integer())
    if type_name == "datetime":
        return kind == "string" and _DATETIME.fullmatch(_text(value)) is not None
    return kind == type_name


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _show(value: Any) -> str:
    return _shorten(json.dumps(value, default=str, ensure_ascii=False))


def _shorten(text: str) -> str:
    return text if len(text) <= EXAMPLE_MAX else text[: EXAMPLE_MAX - 1] + "…"


def _check_property(spec: PropertySpec, event: str, value: Any) -> Violation | None:
    if value is None:
        if spec.required:
            return Violation(
                Kind.MISSING_PROPERTY, event, spec.name, f"required property '{spec.name}' missing"
            )
        return None
    if not _type_ok(spec.type, value):
        return Violation(
            Kind.MISTYPED_PROPERTY,
            event,
            spec.name,
            f"expected {spec.type}, got {_json_kind(value)}",
            _show(value),
        )
    if spec.allowed is not None:
        plain = _text(value) if spec.type in {"string", "datetime"} else value
        if plain not in spec.allowed:
            return Violation(Kind.VALUE_NOT_ALLOWED, event, spec.name, spec.rule, _show(value))
    if spec.regex is not None and spec.regex.search(_text(value)) is None:
        return Violation(Kind.VALUE_NOT_ALLOWED, event, spec.name, spec.rule, _show(value))
    return None


def _name_violations(plan: TrackingPlan, name: str) -> tuple[Violation, ...]:
    found = []
    if name not in plan.events:
        found.append(Violation(Kind.UNKNOWN_EVENT, name, None, "not in the tracking plan"))
    drift = []
    planned = plan.planned_name_for(name) if name not in plan.events else None
    if planned is not None:
        drift.append(f"the plan names it '{planned}'")
    if plan.naming is not None and not follows_convention(name, plan.naming):
        drift.append(f"breaks the {plan.naming} convention")
    if drift:
        found.append(Violation(Kind.NAMING_DRIFT, name, None, "; ".join(drift)))
    return tuple(found)


def check_event(plan: TrackingPlan, event: store.Event) -> list[Violation]:
    """Every way `event` breaks the plan (an empty list when it conforms)."""
    name = event.event
    spec = plan.events.get(name)
    if spec is None:
        if plan.is_ignored(name):
            return []
        cached = plan._name_cache.get(name)
        if cached is None:
            cached = _name_violations(plan, name)
            if len(plan._name_cache) < _NAME_CACHE_MAX:
                plan._name_cache[name] = cached
        return list(cached)
    found: list[Violation] = []
    props = event.properties
    for prop in spec.properties:
        problem = _check_property(prop, name, props.get(prop.name))
        if problem is not None:
            found.append(problem)
    return found


def split_for_quarantine(
    plan: TrackingPlan | None, events: Iterable[store.Event]
) -> tuple[list[store.Event], list[tuple[store.Event, list[Violation]]]]:
    """(events to store, events to hold in quarantine with their violations).

    Only the kinds the plan's `quarantine` option names hold an event back; with no plan or
    `quarantine: false` every event is accepted.
    """
    events = list(events)
    if plan is None or not plan.quarantine:
        return events, []
    accepted: list[store.Event] = []
    held: list[tuple[store.Event, list[Violation]]] = []
    for event in events:
        found = check_event(plan, event)
        if any(v.kind in plan.quarantine for v in found):
            held.append((event, found))
        else:
            accepted.append(event)
    return accepted, held


# --- quarantine --------------------------------------------------------------------------

QUARANTINE_DDL = (
    "CREATE TABLE IF NOT EXISTS quarantine AS "
    "SELECT *, CAST(NULL AS VARCHAR) AS reasons FROM events LIMIT 0"
)


def ensure_quarantine_table(con: duckdb.DuckDBPyConnection) -> None:
    """The `quarantine` table: the columns of `events` plus `reasons` (a JSON list)."""
    con.execute(QUARANTINE_DDL)


def quarantine_events(
    con: duckdb.DuckDBPyConnection,
    events: Sequence[store.Event],
    reasons: Sequence[Sequence[Violation]],
) -> int:
    """Hold `events` in quarantine; returns how many were new (re-sending adds nothing).

    Runs in the caller's transaction, if any. An event already in `events` is not held again.
    """
    if len(events) != len(reasons):
        raise ValueError("quarantine_events needs one list of reasons per event")
    if not events:
        return 0
    ensure_quarantine_table(con)
    batch = store.events_to_arrow(events).append_column(
        "reasons",
        pa.array(
            [json.dumps([v.as_dict() for v in rs], ensure_ascii=False) for rs in reasons],
            pa.string(),
        ),
    )
    con.register("quarantine_batch", batch)
    try:
        lo, hi = con.execute("SELECT min(ts), max(ts) FROM quarantine_batch").fetchone() or (
            None,
            None,
        )
        before = _count(con, "quarantine")
        con.execute(
            """
            INSERT INTO quarantine BY NAME
            SELECT * EXCLUDE (n) REPLACE (properties::JSON AS properties)
            FROM (
                SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ts) AS n
                FROM quarantine_batch
            ) b
            WHERE n = 1
              AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.event_id = b.event_id)
              AND NOT EXISTS (
                  SELECT 1 FROM events e
                  WHERE e.event_id = b.event_id AND e.ts BETWEEN ? AND ?
              )
            """,
            [lo - store.DEDUP_WINDOW, hi + store.DEDUP_WINDOW],
        )
        store.mark_dirty(con, "quarantine_batch")
        return _count(con, "quarantine") - before
    finally:
        con.unregister("quarantine_batch")


def release_quarantine(ws: Workspace, event_ids: Sequence[str] | Literal["all"]) -> ReleaseResult:
    """Move quarantined events into `events` (all of them, or those with `event_ids`).

    Events already stored are not stored twice; releasing again does nothing.
    """
    if event_ids != "all" and not event_ids:
        return ReleaseResult(0, 0)
    writer = store.writer_for(events_file(ws))
    with writer.read() as con:
        if "quarantine" not in _tables(con):
            return ReleaseResult(0, 0)
        if event_ids == "all":
            where, params = "", []
        else:
            where, params = "WHERE list_contains(?, event_id)", [list(event_ids)]
        cols = ", ".join(
            "CAST(properties AS VARCHAR) AS properties" if c == "properties" else c
            for c in store.EVENT_COLUMNS
        )
        con.execute("BEGIN TRANSACTION")
        try:
            rows = con.execute(f"SELECT {cols} FROM quarantine {where}", params).to_arrow_table()
            inserted = store.append_arrow(con, rows.cast(store.ARROW_SCHEMA))
            con.execute(
                f"INSERT INTO dirty_days SELECT DISTINCT CAST(ts AS DATE) FROM quarantine {where}",
                params,
            )
            con.execute(f"DELETE FROM quarantine {where}", params)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return ReleaseResult(released=rows.num_rows, inserted=inserted)


def quarantine_count(ws: Workspace) -> int:
    """How many events are held in quarantine."""
    with store.reader(events_file(ws)) as con:
        return _count(con, "quarantine") if "quarantine" in _tables(con) else 0


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND table_name IN ('events', 'quarantine')"
    ).fetchall()
    return {str(r[0]) for r in rows}


# --- the violations report over stored events --------------------------------------------

_DUCK_KINDS = {
    "VARCHAR": "string",
    "BIGINT": "integer",
    "UBIGINT": "integer",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "OBJECT": "object",
    "ARRAY": "array",
}


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _json_pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


# Per row, DuckDB parses the properties twice: once for the JSON type of each planned
# property (`t`, 'VARCHAR', 'DOUBLE', …, 'NULL' or NULL when absent) and once for its text
# (`s`). Each rule is then plain string work. Kinds travel as small codes until grouped.
_KIND_CODES = {Kind.MISSING_PROPERTY: 1, Kind.MISTYPED_PROPERTY: 2, Kind.VALUE_NOT_ALLOWED: 3}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


def _type_sql(type_name: str, t: str, s: str) -> str:
    if type_name == "string":
        return f"{t} = 'VARCHAR'"
    if type_name == "number":
        return f"{t} IN ('BIGINT', 'UBIGINT', 'DOUBLE')"
    if type_name == "integer":
        return (
            f"({t} IN ('BIGINT', 'UBIGINT') OR "
            f"({t} = 'DOUBLE' AND TRY_CAST({s} AS DOUBLE) = floor(TRY_CAST({s} AS DOUBLE))))"
        )
    if type_name == "datetime":
        return f"({t} = 'VARCHAR' AND regexp_full_match({s}, {_lit(DATETIME_RE)}))"
    return f"{t} = {_lit(type_name.upper())}"


def _allowed_sql(spec: PropertySpec, s: str) -> str:
    assert spec.allowed is not None
    if spec.type in {"number", "integer"}:
        values = ", ".join(repr(float(v)) for v in spec.allowed)
        return f"TRY_CAST({s} AS DOUBLE) IN ({values})"
    if spec.type == "boolean":
        values = ", ".join("'true'" if v else "'false'" for v in spec.allowed)
        return f"{s} IN ({values})"
    values = ", ".join(_lit(str(v)) for v in spec.allowed)
    return f"{s} IN ({values})"


def _code_sql(spec: PropertySpec, i: int) -> str:
    """0 when property `i` of the row keeps the rule, else the code of the broken rule."""
    t, s = f"t[{i}]", f"s[{i}]"
    missing = _KIND_CODES[Kind.MISSING_PROPERTY] if spec.required else 0
    whens = [
        f"WHEN {t} IS NULL OR {t} = 'NULL' THEN {missing}",
        f"WHEN NOT ({_type_sql(spec.type, t, s)}) THEN {_KIND_CODES[Kind.MISTYPED_PROPERTY]}",
    ]
    not_allowed = _KIND_CODES[Kind.VALUE_NOT_ALLOWED]
    if spec.allowed is not None:
        whens.append(f"WHEN NOT ({_allowed_sql(spec, s)}) THEN {not_allowed}")
    if spec.pattern is not None:
        whens.append(f"WHEN NOT regexp_matches({s}, {_lit(spec.pattern)}) THEN {not_allowed}")
    return "CASE " + " ".join(whens) + " ELSE 0 END"


def _property_checks_sql(specs: Sequence[EventSpec], source_sql: str) -> str:
    """One query over the planned events: rows (event, property index, kind code, source,
    count, quarantined, first, last, example, JSON types seen) for each broken rule."""
    parts = []
    for spec in specs:
        paths = ", ".join(_lit(_json_pointer(p.name)) for p in spec.properties)
        codes = ", ".join(_code_sql(p, i) for i, p in enumerate(spec.properties, start=1))
        parts.append(
            f"""
            SELECT event, source, ts, quarantined, t, s, [{codes}] AS k
            FROM (
                SELECT event, source, ts, quarantined,
                       json_type(properties, [{paths}]) AS t,
                       json_extract_string(properties, [{paths}]) AS s
                FROM src WHERE event = {_lit(spec.name)}
            )"""
        )
    return f"""
        WITH src AS ({source_sql}),
        coded AS ({" UNION ALL ".join(parts)}),
        broken AS (
            SELECT event, source, ts, quarantined, unnest(k) AS k, unnest(t) AS t,
                   unnest(s) AS s, generate_subscripts(k, 1) AS i
            FROM coded WHERE list_max(k) > 0
        )
        SELECT event, i, k, source, count(*), count(*) FILTER (WHERE quarantined),
               min(ts), max(ts),
               arg_max(CASE WHEN t = 'VARCHAR' THEN CAST(to_json(s) AS VARCHAR) ELSE s END, ts),
               list_distinct(list(t))
        FROM broken WHERE k > 0
        GROUP BY event, i, k, source
    """


def property_counts_sql(specs: Sequence[EventSpec], source_sql: str) -> str:
    """Like `_property_checks_sql`, per day and quarantined-or-not: rows (day, event,
    property index, kind code, source, quarantined, count, first, last, example, JSON types
    seen), the shape of the `tracking_counts` table."""
    parts = []
    for spec in specs:
        paths = ", ".join(_lit(_json_pointer(p.name)) for p in spec.properties)
        codes = ", ".join(_code_sql(p, i) for i, p in enumerate(spec.properties, start=1))
        parts.append(
            f"""
            SELECT event, source, ts, quarantined, t, s, [{codes}] AS k
            FROM (
                SELECT event, source, ts, quarantined,
                       json_type(properties, [{paths}]) AS t,
                       json_extract_string(properties, [{paths}]) AS s
                FROM src WHERE event = {_lit(spec.name)}
            )"""
        )
    return f"""
        WITH src AS ({source_sql}),
        coded AS ({" UNION ALL ".join(parts)}),
        broken AS (
            SELECT event, source, ts, quarantined, unnest(k) AS k, unnest(t) AS t,
                   unnest(s) AS s, generate_subscripts(k, 1) AS i
            FROM coded WHERE list_max(k) > 0
        )
        SELECT CAST(ts AS DATE), event, i, k, source, quarantined, count(*), min(ts), max(ts),
               arg_max(CASE WHEN t = 'VARCHAR' THEN CAST(to_json(s) AS VARCHAR) ELSE s END, ts),
               list_distinct(list(t))
        FROM broken WHERE k > 0
        GROUP BY ALL
    """


def _naive_utc(value: dt.datetime | dt.date | None) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


@dataclass
class _Acc:
    detail: str
    count: int = 0
    quarantined: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    example: str | None = None
    example_at: dt.datetime | None = None
    got: set[str] = field(default_factory=set)

    def add(
        self,
        source: str,
        n: int,
        q: int,
        first: dt.datetime,
        last: dt.datetime,
        example: str | None = None,
    ) -> None:
        self.count += n
        self.quarantined += q
        self.by_source[source] = self.by_source.get(source, 0) + n
        self.first = first if self.first is None else min(self.first, first)
        if self.last is None or last >= self.last:
            self.last = last
            if example is not None:
                self.example = _shorten(example)


def report_from(
    con: duckdb.DuckDBPyConnection,
    plan: TrackingPlan,
    start: dt.datetime | dt.date | None = None,
    end: dt.datetime | dt.date | None = None,
) -> list[ViolationSummary]:
    """The violations report over the events (and quarantined events) `con` can see."""
    tables = _tables(con)
    if "events" not in tables:
        return []
    lo, hi = _naive_utc(start), _naive_utc(end)
    conditions, params = [], []
    if lo is not None:
        conditions.append("ts >= ?")
        params.append(lo)
    if hi is not None:
        conditions.append("ts < ?")
        params.append(hi)
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    parts = [f"SELECT event, source, ts, properties, false AS quarantined FROM events{where}"]
    all_params = list(params)
    if "quarantine" in tables:
        parts.append(f"SELECT event, source, ts, properties, true FROM quarantine{where}")
        all_params += params
    source_sql = " UNION ALL ".join(parts)

    # Name-level kinds: aggregate per name and source in SQL, classify the few names here.
    name_rows = con.execute(
        f"""
        WITH src AS ({source_sql})
        SELECT event, source, count(*), count(*) FILTER (WHERE quarantined), min(ts), max(ts)
        FROM src GROUP BY event, source
        """,
        all_params,
    ).fetchall()
    specs = [s for s in plan.events.values() if s.properties]
    property_rows = (
        con.execute(_property_checks_sql(specs, source_sql), all_params).fetchall() if specs else []
    )
    return _summaries(plan, name_rows, property_rows)


def report_from_counts(
    con: duckdb.DuckDBPyConnection,
    plan: TrackingPlan,
    start: dt.date | None = None,
    end: dt.date | None = None,
    properties: bool = True,
) -> list[ViolationSummary]:
    """The violations report from the per-day counts (`tracking/counts.py`) for the days
    `start <= day < end`; instant whatever the number of events. Without `properties` (the
    counts were made with another plan) only the name-level rules are reported."""
    conditions, params = [], []
    if start is not None:
        conditions.append("day >= ?")
        params.append(start)
    if end is not None:
        conditions.append("day < ?")
        params.append(end)
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    name_rows = con.execute(
        f"""
        SELECT event, source, sum(n), sum(n) FILTER (WHERE quarantined), min(first_ts),
               max(last_ts)
        FROM event_counts{where} GROUP BY event, source
        """,
        params,
    ).fetchall()
    property_rows = []
    if properties:
        property_rows = con.execute(
            f"""
            SELECT event, i, k, source, sum(n), sum(n) FILTER (WHERE quarantined),
                   min(first_ts), max(last_ts), arg_max(example, last_ts),
                   list_distinct(flatten(list(got)))
            FROM tracking_counts{where} GROUP BY event, i, k, source
            """,
            params,
        ).fetchall()
    known = {s.name: len(s.properties) for s in plan.events.values()}
    property_rows = [r for r in property_rows if 0 < r[1] <= known.get(r[0], 0)]
    return _summaries(plan, name_rows, property_rows)


def _summaries(
    plan: TrackingPlan, name_rows: list[Any], property_rows: list[Any]
) -> list[ViolationSummary]:
    acc: dict[tuple[str, str | None, Kind], _Acc] = {}
    name_rows = [(n, src, int(c), int(q or 0), f, last) for n, src, c, q, f, last in name_rows]
    names = {str(r[0]) for r in name_rows if not plan.is_ignored(str(r[0]))}
    variants: dict[str, set[str]] = {}
    for name in names:
        key = naming_key(name)
        if key:
            variants.setdefault(key, set()).add(name)
    verdicts: dict[str, list[tuple[Kind, str]]] = {}
    for name in names:
        found: list[tuple[Kind, str]] = []
        if name not in plan.events:
            found.append((Kind.UNKNOWN_EVENT, "not in the tracking plan"))
            drift = []
            planned = plan.planned_name_for(name)
            if planned is not None:
                drift.append(f"the plan names it '{planned}'")
            others = sorted(variants.get(naming_key(name), set()) - {name, planned})
            if others:
                drift.append("also sent as " + ", ".join(f"'{o}'" for o in others))
            if plan.naming is not None and not follows_convention(name, plan.naming):
                drift.append(f"breaks the {plan.naming} convention")
            if drift:
                found.append((Kind.NAMING_DRIFT, "; ".join(drift)))
        verdicts[name] = found
    for name, source, n, q, first, last in name_rows:
        for kind, detail in verdicts.get(name, ()):
            acc.setdefault((name, None, kind), _Acc(detail)).add(source, n, q, first, last)

    if property_rows:
        by_event = {s.name: s.properties for s in plan.events.values() if s.properties}
        for name, index, code, source, n, q, first, last, example, got in property_rows:
            n, q = int(n), int(q or 0)
            kind = _CODE_KINDS[code]
            spec = by_event[name][index - 1]
            prop = spec.name
            if kind is Kind.MISSING_PROPERTY:
                detail = f"required property '{prop}' missing"
            elif kind is Kind.MISTYPED_PROPERTY:
                detail = f"expected {spec.type}"
            else:
                detail = spec.rule
            entry = acc.setdefault((name, prop, kind), _Acc(detail))
            entry.add(source, n, q, first, last, example)
            entry.got.update(_DUCK_KINDS.get(g, str(g).lower()) for g in got or () if g)

    out = []
    for (name, prop, kind), a in acc.items():
        detail = a.detail
        if kind is Kind.MISTYPED_PROPERTY and a.got:
            detail += ", got " + ", ".join(sorted(a.got))
        assert a.first is not None and a.last is not None
        out.append(
            ViolationSummary(
                event=name,
                property=prop,
                kind=kind,
                detail=detail,
                count=a.count,
                by_source=dict(sorted(a.by_source.items())),
                first_seen=a.first,
                last_seen=a.last,
                example=a.example,
                quarantined=a.quarantined,
            )
        )
    out.sort(key=lambda s: (-s.count, s.event, s.kind.value, s.property or ""))
    return out
