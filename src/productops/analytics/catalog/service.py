"""The metric catalog: `metrics.yml` in the workspace, one shared definition of each metric.

The file has three sections (all optional):

```yaml
active_user:                 # the one definition of an active user, used everywhere
  events: any                # or a list of event names that count as activity
  exclude_events: ["$identify", identify]
  exclude_types: [identify, group, alias]
dimensions:                  # names usable in `--by` and in filters
  plan: {from: account, trait: plan}
  country: {from: person, trait: country}
  browser: {from: event, property: "$browser"}
  source: {from: event, column: source}
metrics:
  - name: revenue
    label: Revenue
    description: Order value of completed orders
    type: sum                # count | unique_users | unique_accounts | sum | average
    event: Order Completed   #   | ratio | conversion | active_users
    property: revenue
    filters: [{dimension: plan, op: "=", value: pro}]
```

`parse_catalog` checks everything and names the line of each mistake; a `CatalogError`
carries every problem found, not only the first. The definitions are documented in
docs/metrics.md.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from productops.analytics.query.activity import EXCLUDED_FROM_ACTIVE, EXCLUDED_TYPES, ActivityFilter
from productops.analytics.query.dimensions import Dimension
from productops.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

METRICS_FILE = "metrics.yml"
MAX_CATALOG_BYTES = 1_000_000

MetricType = Literal[
    "count",
    "unique_users",
    "unique_accounts",
    "sum",
    "average",
    "ratio",
    "conversion",
    "active_users",
]
METRIC_TYPES: tuple[str, ...] = MetricType.__args__  # type: ignore[attr-defined]
FilterOp = Literal[
    "=", "!=", "in", "not in", ">", ">=", "<", "<=", "contains", "is set", "is not set"
]
FILTER_OPS: tuple[str, ...] = FilterOp.__args__  # type: ignore[attr-defined]
EVENT_DIMENSION_COLUMNS = ("event", "type", "source")
# Columns of a metric result; a dimension may not take one of these names.
RESULT_COLUMNS = frozenset({"period", "value", "numerator", "denominator", "entered", "converted"})

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# The defaults of `active_user`: the one definition of the events that are not activity.
DEFAULT_EXCLUDED_EVENTS = EXCLUDED_FROM_ACTIVE
DEFAULT_EXCLUDED_TYPES = EXCLUDED_TYPES

# What each metric type needs, and what else it may have (besides name, label, description).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "count": ("event",),
    "unique_users": ("event",),
    "unique_accounts": ("event",),
    "sum": ("event", "property"),
    "average": ("event", "property"),
    "ratio": ("numerator", "denominator"),
    "conversion": ("event", "then"),
    "active_users": (),
}
OPTIONAL_KEYS: dict[str, tuple[str, ...]] = {
    "count": ("filters",),
    "unique_users": ("filters",),
    "unique_accounts": ("filters",),
    "sum": ("filters",),
    "average": ("filters",),
    "ratio": (),
    "conversion": ("filters", "then_filters", "window_days"),
    "active_users": ("filters",),
}
ALWAYS_ALLOWED = ("name", "label", "description", "type")
DEFAULT_WINDOW_DAYS = 14  # PostHog's default funnel conversion window


# --- field types ----------------------------------------------------------------------------


def _check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(
            f"'{value}' is not a valid name: use lower-case letters, digits and _ "
            "(starting with a letter, at most 63 characters)"
        )
    return value


def _check_property_name(value: str) -> str:
    if not value or len(value) > 200:
        raise ValueError("a property name has 1 to 200 characters")
    if any(c in value for c in '"\\') or any(ord(c) < 32 for c in value):
        raise ValueError(
            f"property name {value!r} may not contain quotes, backslashes or control characters"
        )
    return value


def _one_or_many_events(value: Any) -> Any:
    """`event: Signed Up` and `event: [Signed Up, Registered]` both mean a list of names."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise ValueError(
        "expected an event name or a non-empty list of event names "
        "(quote names that look like numbers)"
    )


def _check_event_names(value: tuple[str, ...]) -> tuple[str, ...]:
    for name in value:
        if not name.strip() or len(name) > 200:
            raise ValueError(f"event name {name!r} must have 1 to 200 characters")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
PropertyName = Annotated[str, AfterValidator(_check_property_name)]
EventNames = Annotated[
    tuple[str, ...], BeforeValidator(_one_or_many_events), AfterValidator(_check_event_names)
]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- the catalog's parts --------------------------------------------------------------------


class Filter(_Strict):
    """A condition on an event property (`property:`) or on a named dimension (`dimension:`).

    `!=` and `not in` also keep events where the property is not set (as PostHog does).
    """

    property: PropertyName | None = None
    dimension: Name | None = None
    op: FilterOp = "="
    value: Any = None

    @field_validator("value")
    @classmethod
    def _plain_value(cls, value: Any) -> Any:
        if value is None or isinstance(value, Scalar):
            return value
        if isinstance(value, list) and all(isinstance(v, Scalar) for v in value):
            return tuple(value)
        raise ValueError("a filter value is text, a number, true/false or a list of those")

    @model_validator(mode="after")
    def _consistent(self) -> Filter:
        if (self.property is None) == (self.dimension is None):
            raise ValueError("a filter names exactly one of 'property' or 'dimension'")
        op, value = self.op, self.value
        if op in ("is set", "is not set"):
            if value is not None:
                raise ValueError(f"op '{op}' takes no value")
        elif op in ("in", "not in"):
            if not isinstance(value, tuple) or not value:
                raise ValueError(f"op '{op}' needs a non-empty list as value")
        elif op in (">", ">=", "<", "<="):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"op '{op}' needs a number as value")
        elif value is None or isinstance(value, tuple):
            raise ValueError(f"op '{op}' needs a single value")
        return self

    def describe(self) -> str:
        target = self.property if self.property is not None else self.dimension
        if self.op in ("is set", "is not set"):
            return f"{target} {self.op}"
        value = self.value
        shown = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, tuple) else value
        return f"{target} {self.op} {shown}"


class DimensionDef(_Strict):
    """A named dimension in metrics.yml: a person or account trait, or an event property or
    column. `as_dimension()` gives the one `Dimension` every query takes."""

    source: Literal["person", "account", "event"] = Field(alias="from")
    trait: PropertyName | None = None
    property: PropertyName | None = None
    column: Literal["event", "type", "source"] | None = None
    label: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> DimensionDef:
        if self.source in ("person", "account"):
            if self.trait is None or self.property is not None or self.column is not None:
                raise ValueError(
                    f"a dimension from {self.source} names its 'trait' (and only that)"
                )
        elif (self.property is None) == (self.column is None) or self.trait is not None:
            raise ValueError("a dimension from event names exactly one of 'property' or 'column'")
        return self

    def as_dimension(self) -> Dimension:
        if self.source == "event":
            if self.column is not None:
                return Dimension("event", self.column, column=True)
            return Dimension("event", self.property or "")
        return Dimension(self.source, self.trait or "")

    def describe(self) -> str:
        return self.as_dimension().describe()


class ActiveUser(_Strict):
    """Who counts as active: a person with at least one activity event in the period."""

    events: Literal["any"] | tuple[str, ...] = "any"
    exclude_events: tuple[str, ...] = DEFAULT_EXCLUDED_EVENTS
    exclude_types: tuple[str, ...] = DEFAULT_EXCLUDED_TYPES

    @field_validator("events", mode="before")
    @classmethod
    def _any_or_list(cls, value: Any) -> Any:
        if value == "any":
            return value
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
        raise ValueError("'events' is 'any' or a non-empty list of event names")

    def describe(self) -> str:
        which = "any event" if self.events == "any" else "one of " + ", ".join(self.events)
        parts = [f"a person who sent {which} in the period"]
        if self.exclude_events:
            parts.append("not counting " + ", ".join(self.exclude_events))
        if self.exclude_types:
            parts.append("nor calls of type " + ", ".join(self.exclude_types))
        return "; ".join(parts)


class Metric(_Strict):
    """One metric definition. Which keys apply depends on `type` (see REQUIRED_KEYS)."""

    name: Name
    label: str = ""
    description: str = ""
    type: MetricType
    event: EventNames | None = None
    property: PropertyName | None = None
    filters: tuple[Filter, ...] = ()
    then: EventNames | None = None
    then_filters: tuple[Filter, ...] = ()
    window_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    numerator: Name | None = None
    denominator: Name | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_label(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("label") and isinstance(data.get("name"), str):
            data = {**data, "label": data["name"].replace("_", " ").capitalize()}
        return data

    def conversion_window_days(self) -> int:
        return self.window_days if self.window_days is not None else DEFAULT_WINDOW_DAYS

    def definition(self) -> str:
        """The definition in one sentence, for lists and pages."""
        events = " or ".join(self.event or ())
        where = ""
        if self.filters:
            where = " where " + " and ".join(f.describe() for f in self.filters)
        match self.type:
            case "count":
                text = f"number of {events} events{where}"
            case "unique_users":
                text = f"distinct people who sent {events}{where}"
            case "unique_accounts":
                text = f"distinct accounts that sent {events}{where}"
            case "sum":
                text = f"sum of {self.property} over {events} events{where}"
            case "average":
                text = f"average {self.property} over {events} events{where}"
            case "ratio":
                text = f"{self.numerator} / {self.denominator}"
            case "conversion":
                then = " or ".join(self.then or ())
                text = (
                    f"share of people whose first {events}{where} in the period was followed by "
                    f"{then} within {self.conversion_window_days()} days"
                )
            case _:
                text = f"distinct active people{where} (see active_user)"
        return text


class Catalog(_Strict):
    """The validated catalog."""

    active_user: ActiveUser = ActiveUser()
    dimensions: dict[str, DimensionDef] = {}
    metrics: tuple[Metric, ...] = ()

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        names = [m.name for m in self.metrics]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(names) or "none: add some to metrics.yml"
        raise UnknownMetric(f"no metric named '{name}' in the catalog{hint} (metrics: {known})")

    def named_dimensions(self) -> dict[str, Dimension]:
        return {name: d.as_dimension() for name, d in self.dimensions.items()}

    def dimension(self, name: str) -> Dimension:
        """A dimension by its catalog name (`plan`) or its full spelling (`account.plan`)."""
        if name in self.dimensions:
            return self.dimensions[name].as_dimension()
        if "." in name:
            try:
                return Dimension.parse(name, "dimension")
            except InvalidInput as exc:
                raise UnknownDimension(str(exc)) from None
        known = ", ".join(sorted(self.dimensions)) or "none: add some to metrics.yml"
        close = difflib.get_close_matches(name, list(self.dimensions), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownDimension(
            f"no dimension named '{name}' in the catalog{hint} (dimensions: {known}; or "
            "write person.TRAIT, account.TRAIT or event.PROPERTY)"
        )


# --- errors --------------------------------------------------------------------------------


class UnknownMetric(NotFound):
    """The catalog has no metric of that name."""


class UnknownDimension(InvalidInput):
    """The catalog has no dimension of that name."""


@dataclass(frozen=True)
class CatalogProblem:
    """One mistake in metrics.yml; `line` is 1-based (None when the file has no lines)."""

    line: int | None
    message: str

    def render(self, filename: str) -> str:
        where = f"{filename} line {self.line}" if self.line is not None else filename
        return f"{where}: {self.message}"


class CatalogError(InvalidInput):
    """metrics.yml has mistakes; `problems` lists each with its line."""

    def __init__(self, filename: str, problems: list[CatalogProblem]) -> None:
        self.filename = filename
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.message))
        super().__init__("\n".join(p.render(filename) for p in self.problems))


# --- YAML with line numbers -----------------------------------------------------------------

Path_ = tuple[str | int, ...]


class _Problems:
    def __init__(self) -> None:
        self.items: list[CatalogProblem] = []

    def add(self, line: int | None, message: str) -> None:
        self.items.append(CatalogProblem(line, message))


@dataclass
class _Document:
    data: Any
    lines: dict[Path_, int]

    def line(self, path: Path_) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            found = self.lines.get(path[:n])
            if found is not None:
                return found
        return None


def _compose(text: str, problems: _Problems) -> _Document | None:
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # a character YAML does not allow
        problems.add(
            _line_of_offset(text, getattr(exc, "position", None)), f"not valid YAML: {exc}"
        )
        return None
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            problems.add(_mark_line(exc), f"not valid YAML: {_yaml_detail(exc)}")
            return None
        except yaml.YAMLError as exc:
            problems.add(None, f"not valid YAML: {exc}")
            return None
        except RecursionError:
            problems.add(None, "not valid YAML: nested too deeply")
            return None
        lines: dict[Path_, int] = {(): 1}
        if node is None:
            return _Document({}, lines)
        seen: set[int] = set()

        def scalar(n: yaml.Node) -> Any:
            try:
                value = loader.construct_object(n, deep=True)
            except yaml.MarkedYAMLError as exc:
                problems.add(_mark_line(exc) or n.start_mark.line + 1, _yaml_detail(exc))
                return None
            except (ValueError, OverflowError):
                # Looks like a date but is none (2024-02-30): keep the text.
                return n.value if isinstance(n.value, str) else None
            # Dates in filter values compare with the property's text.
            if isinstance(value, dt.date | dt.datetime):
                return value.isoformat()
            return value

        def convert(n: yaml.Node, path: Path_) -> Any:
            if id(n) in seen:
                problems.add(
                    lines.get(path, n.start_mark.line + 1),
                    "anchors and aliases (& and *) are not supported",
                )
                return None
            seen.add(id(n))
            lines.setdefault(path, n.start_mark.line + 1)
            if isinstance(n, yaml.MappingNode):
                out: dict[str, Any] = {}
                for key_node, value_node in n.value:
                    line = key_node.start_mark.line + 1
                    if not isinstance(key_node, yaml.ScalarNode):
                        problems.add(line, "a key must be a plain name")
                        continue
                    key = str(scalar(key_node))
                    if key in out:
                        problems.add(line, f"'{key}' appears twice in the same block")
                        continue
                    lines[(*path, key)] = line
                    out[key] = convert(value_node, (*path, key))
                return out
            if isinstance(n, yaml.SequenceNode):
                return [convert(item, (*path, i)) for i, item in enumerate(n.value)]
            return scalar(n)

        try:
            return _Document(convert(node, ()), lines)
        except RecursionError:
            problems.add(None, "nested too deeply")
            return None
    finally:
        loader.dispose()


def _line_of_offset(text: str, offset: int | None) -> int | None:
    return text.count("\n", 0, offset) + 1 if offset is not None else None


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _yaml_detail(exc: yaml.MarkedYAMLError) -> str:
    return " ".join(x for x in (exc.context, exc.problem) if x) or "cannot be read"


# --- validation ------------------------------------------------------------------------------


def _render_pydantic(err: Mapping[str, Any]) -> str:
    loc = list(err["loc"])
    field = ""
    for part in loc:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = field.rsplit(".", 1)[0] if "." in field else ""
        return f"unknown key '{loc[-1]}'" + (f" in {parent}" if parent else "")
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{field}: {err.get('input')!r} is not allowed; expected {expected}"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    return f"{field}: {msg}" if field else msg


def _validate(
    model: type[BaseModel],
    data: Any,
    base: Path_,
    context: str,
    doc: _Document,
    problems: _Problems,
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reported: set[tuple[int | None, str]] = set()
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            line = doc.line((*base, *loc))
            message = f"{context}: {_render_pydantic(err)}"
            if (line, message) not in reported:
                reported.add((line, message))
                problems.add(line, message)
        return None


def parse_catalog(text: str, filename: str = METRICS_FILE) -> Catalog:
    """Validate the text of a metrics.yml; raises `CatalogError` listing every mistake with
    its line."""
    problems = _Problems()
    if len(text.encode()) > MAX_CATALOG_BYTES:
        raise CatalogError(
            filename, [CatalogProblem(None, f"larger than {MAX_CATALOG_BYTES:,} bytes")]
        )
    doc = _compose(text, problems)
    if doc is None:
        raise CatalogError(filename, problems.items)
    data = doc.data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.add(1, "the catalog is a mapping with active_user, dimensions and metrics")
        raise CatalogError(filename, problems.items)
    for key in data:
        if key not in Catalog.model_fields:
            problems.add(
                doc.line((key,)),
                f"unknown key '{key}' at the top level (expected active_user, dimensions, metrics)",
            )

    active_user = ActiveUser()
    if data.get("active_user") is not None:
        active_user = (
            _validate(
                ActiveUser, data["active_user"], ("active_user",), "active_user", doc, problems
            )
            or active_user
        )

    dimensions: dict[str, DimensionDef] = {}
    raw_dims = data.get("dimensions") or {}
    if not isinstance(raw_dims, dict):
        problems.add(
            doc.line(("dimensions",)), "dimensions: expected a mapping of name: definition"
        )
        raw_dims = {}
    for dim_name, raw in raw_dims.items():
        line = doc.line(("dimensions", dim_name))
        if not NAME_RE.match(dim_name):
            problems.add(line, f"dimension '{dim_name}': {_name_rule(dim_name)}")
            continue
        if dim_name in RESULT_COLUMNS:
            problems.add(line, f"dimension '{dim_name}': the name is reserved for result columns")
            continue
        dim = _validate(
            DimensionDef, raw, ("dimensions", dim_name), f"dimension '{dim_name}'", doc, problems
        )
        if dim is not None:
            dimensions[dim_name] = dim

    metrics: list[tuple[Metric, Path_]] = []
    raw_metrics = data.get("metrics") or []
    if not isinstance(raw_metrics, list):
        problems.add(doc.line(("metrics",)), "metrics: expected a list of metrics (- name: ...)")
        raw_metrics = []
    seen_names: set[str] = set()
    for i, raw in enumerate(raw_metrics):
        path: Path_ = ("metrics", i)
        name = raw.get("name") if isinstance(raw, dict) else None
        context = f"metric '{name}'" if isinstance(name, str) else f"metric #{i + 1}"
        if isinstance(name, str):
            if name in seen_names:
                problems.add(doc.line((*path, "name")), f"{context} is defined more than once")
            seen_names.add(name)
        if not isinstance(raw, dict):
            problems.add(doc.line(path), f"{context}: expected a mapping (name: ..., type: ...)")
            continue
        metric = _validate(Metric, raw, path, context, doc, problems)
        if metric is None:
            continue
        metrics.append((metric, path))
        _check_type_rules(metric, raw, path, doc, problems)

    _check_references(metrics, dimensions, doc, problems)
    if problems.items:
        raise CatalogError(filename, problems.items)
    return Catalog(
        active_user=active_user, dimensions=dimensions, metrics=tuple(m for m, _ in metrics)
    )


def _name_rule(name: str) -> str:
    return (
        f"'{name}' is not a valid name: use lower-case letters, digits and _ "
        "(starting with a letter, at most 63 characters)"
    )


def _check_type_rules(
    metric: Metric, raw: dict[str, Any], path: Path_, doc: _Document, problems: _Problems
) -> None:
    required = REQUIRED_KEYS[metric.type]
    allowed = set(ALWAYS_ALLOWED) | set(required) | set(OPTIONAL_KEYS[metric.type])
    type_line = doc.line((*path, "type"))
    for key in required:
        if raw.get(key) is None:
            problems.add(type_line, f"metric '{metric.name}': type '{metric.type}' needs '{key}'")
    for key in raw:
        if key not in allowed and key in Metric.model_fields:
            problems.add(
                doc.line((*path, key)),
                f"metric '{metric.name}': '{key}' does not apply to type '{metric.type}'",
            )


def _check_references(
    metrics: list[tuple[Metric, Path_]],
    dimensions: dict[str, DimensionDef],
    doc: _Document,
    problems: _Problems,
) -> None:
    by_name: dict[str, Metric] = {}
    for metric, _ in metrics:
        by_name.setdefault(metric.name, metric)
    for metric, path in metrics:
        for key in ("filters", "then_filters"):
            for j, flt in enumerate(getattr(metric, key)):
                if flt.dimension is not None and flt.dimension not in dimensions:
                    problems.add(
                        doc.line((*path, key, j, "dimension")),
                        f"metric '{metric.name}': filter on unknown dimension '{flt.dimension}'",
                    )
        if metric.type != "ratio":
            continue
        for key in ("numerator", "denominator"):
            ref = getattr(metric, key)
            if ref is None:
                continue
            if ref == metric.name:
                problems.add(
                    doc.line((*path, key)), f"metric '{metric.name}': {key} refers to itself"
                )
            elif ref not in by_name:
                close = difflib.get_close_matches(ref, list(by_name), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                problems.add(
                    doc.line((*path, key)),
                    f"metric '{metric.name}': {key} '{ref}' is not a metric in the catalog{hint}",
                )
    paths = {m.name: p for m, p in metrics}
    for cycle in _ratio_cycles(by_name):
        first = cycle[0]
        problems.add(
            doc.line(paths[first]),
            f"metric '{first}': ratios refer to each other in a cycle: {' → '.join(cycle)}",
        )


def _ratio_cycles(metrics: Mapping[str, Metric]) -> list[list[str]]:
    """Cycles of length > 1 among ratio references (self-references are reported apart)."""
    cycles: list[list[str]] = []
    reported: set[frozenset[str]] = set()

    def refs(name: str) -> Iterable[str]:
        m = metrics.get(name)
        if m is None or m.type != "ratio":
            return ()
        return [r for r in (m.numerator, m.denominator) if r and r != name and r in metrics]

    def visit(name: str, stack: list[str]) -> None:
        for ref in refs(name):
            if ref in stack:
                cycle = stack[stack.index(ref) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    cycles.append([*cycle, ref])
            elif len(stack) < len(metrics):
                visit(ref, [*stack, ref])

    for name in sorted(metrics):
        visit(name, [name])
    return cycles


# --- the workspace's catalog ----------------------------------------------------------------


def catalog_path(ws: Workspace) -> Path:
    return ws.path / METRICS_FILE


def read_catalog_text(ws: Workspace) -> str:
    """The text of the workspace's metrics.yml ('' when it is missing)."""
    path = catalog_path(ws)
    return path.read_text(encoding="utf-8") if path.exists() else ""


def load_catalog(ws: Workspace) -> Catalog:
    """The workspace's catalog, validated; raises `CatalogError` naming each mistake's line."""
    return parse_catalog(read_catalog_text(ws), METRICS_FILE)


def save_catalog(ws: Workspace, text: str) -> Catalog:
    """Validate `text` and, only when it is valid, replace metrics.yml with it (atomically)."""
    catalog = parse_catalog(text, METRICS_FILE)
    path = catalog_path(ws)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".metrics-", suffix=".yml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return catalog


def list_metrics(ws: Workspace) -> list[Metric]:
    """Every metric of the workspace's catalog, in file order."""
    return list(load_catalog(ws).metrics)


def activity_filter(ws: Workspace) -> ActivityFilter:
    """The catalog's one definition of an active user, as the analyses take it."""
    au = load_catalog(ws).active_user
    return ActivityFilter(
        events=None if au.events == "any" else list(au.events),
        exclude=list(au.exclude_events),
        exclude_types=list(au.exclude_types),
    )


@dataclass(frozen=True)
class UnseenEvent:
    """A metric names an event the store has never seen (often a typo)."""

    metric: str
    event: str
    message: str  # "no event named 'Sign Up' — did you mean 'Signed Up'?"


def unseen_events(ws: Workspace, catalog: Catalog) -> list[UnseenEvent]:
    """The events the catalog's metrics count that no stored event has (none while the store
    is empty: there is nothing to compare with yet)."""
    from productops.analytics.query.source import event_names, unknown_event_message

    seen = event_names(ws)
    if not seen:
        return []
    out = []
    for metric in catalog.metrics:
        for name in (*(metric.event or ()), *(metric.then or ())):
            if name not in seen:
                out.append(UnseenEvent(metric.name, name, unknown_event_message(name, seen)))
    return out
