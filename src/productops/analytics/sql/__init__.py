"""The SQL console: one read-only SELECT over the event store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.analytics.sql.service import (
        ALLOWED_TABLE_FUNCTIONS,
        DEFAULT_LIMIT,
        DEFAULT_MAX_MEMORY_BYTES,
        DEFAULT_MAX_RESULT_BYTES,
        DEFAULT_TIMEOUT_SECONDS,
        FORBIDDEN_FUNCTION_PREFIXES,
        FORBIDDEN_FUNCTIONS,
        MAX_QUERY_CHARS,
        QUERYABLE_TABLES,
        SANDBOX_CONFIG,
        ConsoleLimits,
        SqlAnswer,
        SqlConsoleError,
        SqlResult,
        answer_sql,
        check_parse_tree,
        check_query,
        console_connection,
        execute_readonly,
        run_sql,
    )

_NAMES = {
    "ALLOWED_TABLE_FUNCTIONS": ".service",
    "DEFAULT_LIMIT": ".service",
    "DEFAULT_MAX_MEMORY_BYTES": ".service",
    "DEFAULT_MAX_RESULT_BYTES": ".service",
    "DEFAULT_TIMEOUT_SECONDS": ".service",
    "FORBIDDEN_FUNCTIONS": ".service",
    "FORBIDDEN_FUNCTION_PREFIXES": ".service",
    "MAX_QUERY_CHARS": ".service",
    "QUERYABLE_TABLES": ".service",
    "SANDBOX_CONFIG": ".service",
    "ConsoleLimits": ".service",
    "SqlAnswer": ".service",
    "SqlConsoleError": ".service",
    "SqlResult": ".service",
    "answer_sql": ".service",
    "check_parse_tree": ".service",
    "check_query": ".service",
    "console_connection": ".service",
    "execute_readonly": ".service",
    "run_sql": ".service",
}
__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_MEMORY_BYTES",
    "DEFAULT_MAX_RESULT_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "FORBIDDEN_FUNCTIONS",
    "FORBIDDEN_FUNCTION_PREFIXES",
    "MAX_QUERY_CHARS",
    "QUERYABLE_TABLES",
    "SANDBOX_CONFIG",
    "ConsoleLimits",
    "SqlAnswer",
    "SqlConsoleError",
    "SqlResult",
    "answer_sql",
    "check_parse_tree",
    "check_query",
    "console_connection",
    "execute_readonly",
    "run_sql",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
