"""Dimensions: where a breakdown, segment or filter value comes from, in one spelling.

A dimension is written `person.TRAIT`, `account.TRAIT` or `event.PROPERTY` (for example
`account.plan`, `person.country`, `event.$browser`). The metric catalog gives dimensions
short names (`plan: {from: account, trait: plan}`); everywhere a dimension is taken, its
catalog name and its full spelling mean the same (`resolve`). Catalog dimensions can also
name an event column (`event`, `type`, `source`).

JSON properties are read through `property_text`, the one place that knows how each engine
reads a key out of a JSON column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

import ibis
import ibis.expr.types as ir

from productops.core.errors import InvalidInput

Scope = Literal["person", "account", "event"]
SCOPES: tuple[str, ...] = ("person", "account", "event")
EVENT_COLUMNS = ("event", "type", "source")
NONE_LABEL = "(none)"
"""The breakdown value of people (or events) without the trait."""
MAX_PROPERTY_NAME = 200


def check_property_name(key: str, what: str = "property name") -> str:
    """A trait or property name: 1 to 200 characters, no quotes, backslashes or control
    characters (so it is safe inside every engine's JSON path)."""
    if not key or len(key) > MAX_PROPERTY_NAME:
        raise InvalidInput(f"{what} {key[:60]!r}: use 1 to {MAX_PROPERTY_NAME} characters")
    if any(c in key for c in "\"'\\]") or any(ord(c) < 32 for c in key):
        raise InvalidInput(
            f"{what} {key!r} may not contain quotes, backslashes, ']' or control characters"
        )
    return key


@dataclass(frozen=True)
class Dimension:
    """A person or account trait, an event property, or (catalog only) an event column."""

    scope: Scope
    key: str
    column: bool = False

    @classmethod
    def parse(cls, text: str, what: str = "breakdown") -> Dimension:
        """`account.plan` → Dimension("account", "plan")."""
        scope, dot, key = text.strip().partition(".")
        if not dot or scope not in SCOPES or not key:
            raise InvalidInput(
                f"{what} {text!r}: write person.TRAIT, account.TRAIT or event.PROPERTY "
                "(for example account.plan)"
            )
        check_property_name(key)
        return cls(cast(Scope, scope), key)

    def __str__(self) -> str:
        return f"{self.scope}.{self.key}"

    def describe(self) -> str:
        if self.scope == "event":
            return f"event column {self.key}" if self.column else f"event property {self.key}"
        return f"{self.scope} trait {self.key}"


def resolve(
    text: str, named: Mapping[str, Dimension] | None = None, what: str = "dimension"
) -> Dimension:
    """A dimension from its catalog name (`plan`) or its full spelling (`account.plan`)."""
    text = text.strip()
    if named and text in named:
        return named[text]
    if "." in text:
        return Dimension.parse(text, what)
    known = ", ".join(sorted(named or ())) or "none named in the catalog"
    raise InvalidInput(
        f"no dimension '{text}': use a catalog dimension ({known}) or write person.TRAIT, "
        "account.TRAIT or event.PROPERTY"
    )


# --- JSON properties: the one backend-specific piece ---------------------------------------


@ibis.udf.scalar.builtin(name="json_extract_string")  # type: ignore[untyped-decorator]
def _duckdb_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """DuckDB: the text of the value at `path` (numbers and booleans as their JSON text)."""


@ibis.udf.scalar.builtin(name="get_json_object")  # type: ignore[untyped-decorator]
def _spark_json_text(doc: str, path: str) -> str:  # type: ignore[empty-body]
    """Spark SQL: the same, with Spark's JSON path syntax."""


def property_text(backend: Any, doc: ir.Value, key: str) -> ir.StringValue:
    """The text of top-level property `key` of a JSON column (NULL when absent or null).

    `backend` is an Ibis backend or its name. Ibis' own JSON access mangles keys such as
    `$browser`, so each backend gets its native function with a quoted path; add a backend
    here to run the catalog and the analyses on it.
    """
    check_property_name(key)
    name = backend if isinstance(backend, str) else getattr(backend, "name", "duckdb")
    text = doc.cast("string")
    if name == "duckdb":
        return _duckdb_json_text(text, '$."' + key + '"')
    if name == "pyspark":
        return _spark_json_text(text, "$['" + key + "']")
    # Other backends: Ibis' portable JSON access (plain keys only).
    return doc.cast("json")[key].str


def property_number(backend: Any, doc: ir.Value, key: str) -> ir.FloatingValue:
    """A numeric property as float64 (NULL when absent or not a number)."""
    return property_text(backend, doc, key).try_cast("float64")


def attribute(table: ir.Table, key: str, backend: Any) -> ir.StringValue:
    """A trait or property as text: a column of that name if the table has one (warehouse
    tables often keep traits as columns), else the key inside `properties`."""
    check_property_name(key)
    if key in table.columns and key != "properties":
        return table[key].cast("string")
    if "properties" not in table.columns:
        raise InvalidInput(f"no column or property {key!r}: the table has no 'properties'")
    return property_text(backend, table.properties, key)


def label(value: ir.StringValue) -> ir.StringValue:
    """A breakdown value, with NONE_LABEL where there is none."""
    return value.fill_null(NONE_LABEL)


__all__ = [
    "EVENT_COLUMNS",
    "NONE_LABEL",
    "Dimension",
    "attribute",
    "check_property_name",
    "label",
    "property_number",
    "property_text",
    "resolve",
]
