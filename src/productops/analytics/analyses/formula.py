"""Formulas across series (`A / B * 100`), parsed without `eval`: numbers, the series' letters,
`+ - * /`, unary minus and parentheses, nothing else. Division by zero gives no value."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from productops.core.errors import InvalidInput

MAX_FORMULA = 200
_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class FormulaError(InvalidInput):
    """A formula that cannot be read or names a series that is not there."""


def parse_formula(text: str, letters: set[str]) -> ast.Expression:
    """The formula's tree, checked: only arithmetic on the given series letters."""
    text = text.strip()
    if not text or len(text) > MAX_FORMULA:
        raise FormulaError(f"a formula has 1 to {MAX_FORMULA} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise FormulaError(
            f"formula {text!r}: write series letters, numbers and + - * / ( )"
        ) from None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression | ast.Load, _OPS)):
            continue
        if isinstance(node, ast.BinOp) and isinstance(node.op, _OPS):
            continue
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            continue
        if isinstance(node, ast.USub | ast.UAdd):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        if isinstance(node, ast.Name):
            if node.id not in letters:
                known = ", ".join(sorted(letters)) or "none"
                raise FormulaError(f"formula {text!r}: no series {node.id} (series: {known})")
            continue
        raise FormulaError(f"formula {text!r}: only series letters, numbers and + - * / ( )")
    return tree


def evaluate(tree: ast.Expression, values: Mapping[str, pd.Series]) -> pd.Series:
    """The formula over aligned series (NaN where a value is missing or a divisor is 0)."""

    def ev(node: ast.AST) -> pd.Series | float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)  # type: ignore[arg-type]  # int or float, checked
        if isinstance(node, ast.Name):
            return values[node.id].astype("float64")
        if isinstance(node, ast.UnaryOp):
            inner = ev(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        assert isinstance(node, ast.BinOp)
        left, right = ev(node.left), ev(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(right, pd.Series):
            right = right.where(right != 0, np.nan)
        elif right == 0:
            right = math.nan
        return left / right

    out = ev(tree)
    if not isinstance(out, pd.Series):
        index = next(iter(values.values())).index if values else pd.RangeIndex(1)
        out = pd.Series(out, index=index, dtype="float64")
    return out.replace([np.inf, -np.inf], np.nan)
