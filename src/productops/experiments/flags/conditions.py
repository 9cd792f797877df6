"""GrowthBook's targeting-condition language (a MongoDB-style query on the user's attributes),
evaluated exactly as GrowthBook's JavaScript SDK does, JavaScript's comparison and truthiness
rules included, so a rule means the same thing here as in every GrowthBook SDK.

    evaluate_condition({"country": "US", "age": {"$gte": 18}}, {"country": "US", "age": 30})

`check_condition` refuses what no SDK could evaluate (unknown operators, wrong operand
types, regexes that do not compile), naming the path of the problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from productops.core.errors import InvalidInput

_MISSING = object()

VALUE_OPERATORS = frozenset(
    {
        "$eq",
        "$ne",
        "$lt",
        "$lte",
        "$gt",
        "$gte",
        "$veq",
        "$vne",
        "$vgt",
        "$vgte",
        "$vlt",
        "$vlte",
        "$exists",
        "$in",
        "$nin",
        "$ini",
        "$nini",
        "$inGroup",
        "$notInGroup",
        "$not",
        "$size",
        "$elemMatch",
        "$all",
        "$alli",
        "$regex",
        "$regexi",
        "$notRegex",
        "$notRegexi",
        "$type",
    }
)
LOGICAL_OPERATORS = frozenset({"$or", "$nor", "$and", "$not"})
TYPES = ("string", "number", "boolean", "array", "object", "null", "undefined")


class ConditionError(InvalidInput):
    """A targeting condition no SDK could evaluate (the message names where)."""


# --- JavaScript's view of values ------------------------------------------------------------


def js_type(value: Any) -> str:
    if value is None:
        return "null"
    if value is _MISSING:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def js_truthy(value: Any) -> bool:
    """`!!value` in JavaScript: empty arrays and objects are true, NaN and "" false."""
    if value is None or value is _MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def js_number_text(value: float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def js_string(value: Any) -> str:
    """`value + ""` in JavaScript."""
    if value is None:
        return "null"
    if value is _MISSING:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ",".join("" if v is None else js_string(v) for v in value)
    return "[object Object]"


def js_to_number(value: Any) -> float:
    """`Number(value)` in JavaScript (NaN when it is not a number)."""
    if value is None:
        return 0.0
    if value is _MISSING:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            if text.lower().startswith(("0x", "0o", "0b")):
                return float(int(text, 0))
            if text in ("Infinity", "+Infinity", "-Infinity"):
                return float(text.replace("Infinity", "inf"))
            if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
                return math.nan
            return float(text)
        except ValueError:
            return math.nan
    if isinstance(value, list | tuple):
        if not value:
            return 0.0
        if len(value) == 1:
            return js_to_number(js_string(value[0]) if value[0] is not None else "")
        return math.nan
    return math.nan


def js_stringify(value: Any) -> str:
    """`JSON.stringify(value)`: compact, keys in their order, integral floats as integers."""
    if value is _MISSING:
        return "undefined"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_stringify(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(json.dumps(str(k)) + ":" + js_stringify(v) for k, v in value.items())
            + "}"
        )
    return json.dumps(value, ensure_ascii=False)


def _relational(op: str, actual: Any, expected: Any) -> bool:
    """`actual < expected` (and friends) with JavaScript's coercions."""
    if isinstance(actual, str) and isinstance(expected, str):
        a: Any = _utf16(actual)
        b: Any = _utf16(expected)
    else:
        if actual is _MISSING or expected is _MISSING:
            return False
        a, b = _primitive_number(actual), _primitive_number(expected)
        if isinstance(a, str) and isinstance(b, str):
            a, b = _utf16(a), _utf16(b)
        else:
            a = js_to_number(a) if not isinstance(a, float) else a
            b = js_to_number(b) if not isinstance(b, float) else b
            if math.isnan(a) or math.isnan(b):
                return False
    if op == "$lt":
        return bool(a < b)
    if op == "$lte":
        return bool(a <= b)
    if op == "$gt":
        return bool(a > b)
    return bool(a >= b)


def _primitive_number(value: Any) -> Any:
    """ToPrimitive for the relational operators: arrays and objects become strings."""
    if isinstance(value, list | tuple | dict):
        return js_string(value)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return value


def _utf16(text: str) -> bytes:
    # JavaScript compares strings by UTF-16 code units.
    return text.encode("utf-16-be")


def _strict_equal(a: Any, b: Any) -> bool:
    """`a === b`."""
    ta, tb = js_type(a), js_type(b)
    if ta != tb:
        return False
    if ta in ("array", "object"):
        return a is b
    if ta == "number":
        return float(a) == float(b)
    return bool(a == b)


def padded_version(value: Any) -> str:
    """GrowthBook's comparable form of a version string (`1.2.3-beta` ...)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = js_number_text(value)
    if not value or not isinstance(value, str):
        value = "0"
    parts = re.split(r"[-.]", re.sub(r"(^v|\+.*$)", "", value))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5, " ") if re.fullmatch(r"[0-9]+", p) else p for p in parts)


@lru_cache(maxsize=1024)
def _regex(pattern: str, insensitive: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if insensitive else 0)


def _is_in(actual: Any, expected: list[Any], insensitive: bool = False) -> bool:
    def fold(v: Any) -> Any:
        return v.lower() if insensitive and isinstance(v, str) else v

    pool = [fold(e) for e in expected]

    def includes(v: Any) -> bool:
        v = fold(v)
        return any(_same_value_zero(v, e) for e in pool)

    if isinstance(actual, list | tuple):
        return any(includes(el) for el in actual)
    return includes(actual)


def _same_value_zero(a: Any, b: Any) -> bool:
    """`Array.prototype.includes` equality."""
    if js_type(a) == "number" and js_type(b) == "number":
        fa, fb = float(a), float(b)
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    return _strict_equal(a, b)


def is_operator_object(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) > 0
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


# --- evaluation ------------------------------------------------------------------------------


def get_path(attributes: Any, path: str) -> Any:
    current = attributes
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return None
    return current


def evaluate_condition(
    attributes: Mapping[str, Any],
    condition: Mapping[str, Any],
    saved_groups: Mapping[str, list[Any]] | None = None,
) -> bool:
    """Whether `attributes` pass `condition` (GrowthBook's evalCondition)."""
    groups = saved_groups or {}
    for key, value in condition.items():
        if key == "$or":
            if not _eval_or(attributes, value, groups):
                return False
        elif key == "$nor":
            if _eval_or(attributes, value, groups):
                return False
        elif key == "$and":
            if not all(evaluate_condition(attributes, c, groups) for c in value):
                return False
        elif key == "$not":
            if evaluate_condition(attributes, value, groups):
                return False
        elif not _eval_value(value, get_path(attributes, key), groups):
            return False
    return True


def _eval_or(attributes: Any, conditions: list[Any], groups: Mapping[str, list[Any]]) -> bool:
    if not conditions:
        return True
    return any(evaluate_condition(attributes, c, groups) for c in conditions)


def _eval_value(condition: Any, value: Any, groups: Mapping[str, list[Any]]) -> bool:
    if isinstance(condition, str):
        return js_string(value) == condition
    if isinstance(condition, bool):
        return value is not None and js_truthy(value) == condition
    if isinstance(condition, int | float):
        number = js_to_number(value)
        return not math.isnan(number) and number == float(condition)
    if condition is None:
        return value is None
    if isinstance(condition, list) or not is_operator_object(condition):
        return js_stringify(value) == js_stringify(condition)
    return all(_eval_operator(op, value, expected, groups) for op, expected in condition.items())


def _elem_match(actual: Any, expected: Any, groups: Mapping[str, list[Any]]) -> bool:
    if not isinstance(actual, list):
        return False
    for item in actual:
        if not js_truthy(item):
            continue
        if is_operator_object(expected):
            if _eval_value(expected, item, groups):
                return True
        elif isinstance(item, dict) and evaluate_condition(item, expected, groups):
            return True
    return False


def _eval_operator(op: str, actual: Any, expected: Any, groups: Mapping[str, list[Any]]) -> bool:
    if op in ("$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte"):
        a, b = padded_version(actual), padded_version(expected)
        return {
            "$veq": a == b,
            "$vne": a != b,
            "$vgt": a > b,
            "$vgte": a >= b,
            "$vlt": a < b,
            "$vlte": a <= b,
        }[op]
    if op == "$eq":
        return _strict_equal(actual, expected)
    if op == "$ne":
        return not _strict_equal(actual, expected)
    if op in ("$lt", "$lte", "$gt", "$gte"):
        return _relational(op, actual, expected)
    if op == "$exists":
        present = actual is not None and actual is not _MISSING
        return present if js_truthy(expected) else not present
    if op in ("$in", "$ini"):
        return isinstance(expected, list) and _is_in(actual, expected, op == "$ini")
    if op in ("$nin", "$nini"):
        return isinstance(expected, list) and not _is_in(actual, expected, op == "$nini")
    if op == "$inGroup":
        return _is_in(actual, list(groups.get(js_string(expected), [])))
    if op == "$notInGroup":
        return not _is_in(actual, list(groups.get(js_string(expected), [])))
    if op == "$not":
        return not _eval_value(expected, actual, groups)
    if op == "$size":
        return isinstance(actual, list) and _eval_value(expected, len(actual), groups)
    if op == "$elemMatch":
        return _elem_match(actual, expected, groups)
    if op in ("$all", "$alli"):
        if not isinstance(actual, list) or not isinstance(expected, list):
            return False
        insensitive = op == "$alli"
        for e in expected:
            if insensitive:
                if not _is_in(actual, [e], True):
                    return False
            elif not any(_eval_value(e, a, groups) for a in actual):
                return False
        return True
    if op in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
        try:
            matched = bool(_regex(js_string(expected), op.endswith("i")).search(js_string(actual)))
        except re.error:
            return False
        return matched if op.startswith("$regex") else not matched
    if op == "$type":
        return bool(js_type(actual) == expected)
    return False  # an unknown operator never matches (as in every SDK)


# --- checking at save ------------------------------------------------------------------------


def check_condition(condition: Any, where: str = "condition") -> None:
    """Refuse a condition no SDK could evaluate; the message names the path (`rules[0].
    condition.$or[1].age`) and the reason."""
    if not isinstance(condition, dict):
        raise ConditionError(f"{where}: a condition is an object of attribute: test pairs")
    for key, value in condition.items():
        here = f"{where}.{key}"
        if not isinstance(key, str) or not key:
            raise ConditionError(f"{where}: an attribute name is empty")
        if key in ("$or", "$nor", "$and"):
            if not isinstance(value, list):
                raise ConditionError(f"{here}: expects a list of conditions")
            for i, sub in enumerate(value):
                check_condition(sub, f"{here}[{i}]")
        elif key == "$not":
            check_condition(value, here)
        elif key.startswith("$"):
            raise ConditionError(
                f"{here}: '{key}' is not a logical operator ($or, $nor, $and, $not); "
                "attribute names do not start with $"
            )
        else:
            _check_value(value, here)


def _check_value(value: Any, where: str) -> None:
    if not is_operator_object(value):
        if isinstance(value, dict) and any(str(k).startswith("$") for k in value):
            raise ConditionError(f"{where}: mixes operators and plain keys")
        return
    for op, operand in value.items():
        here = f"{where}.{op}"
        if op not in VALUE_OPERATORS:
            raise ConditionError(f"{here}: unknown operator '{op}'")
        if op in ("$in", "$nin", "$ini", "$nini", "$all", "$alli") and not isinstance(
            operand, list
        ):
            raise ConditionError(f"{here}: expects a list")
        if op in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
            if not isinstance(operand, str):
                raise ConditionError(f"{here}: expects a regular expression as text")
            try:
                _regex(operand, False)
            except re.error as exc:
                raise ConditionError(
                    f"{here}: the regular expression does not compile ({exc})"
                ) from None
        if op == "$type" and operand not in TYPES:
            raise ConditionError(f"{here}: '{operand}' is not one of {', '.join(TYPES)}")
        if op in ("$inGroup", "$notInGroup") and not isinstance(operand, str):
            raise ConditionError(f"{here}: expects a saved group's id")
        if op in ("$not", "$size"):
            _check_value(operand, here)
        if op == "$elemMatch":
            if is_operator_object(operand):
                _check_value(operand, here)
            else:
                check_condition(operand, here)
