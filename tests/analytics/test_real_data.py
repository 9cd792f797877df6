"""On real, published data, productops' own engine gets the published numbers.

- ecommerce_funnel (90,400 users; one table per page): the strict funnel
  Home 90,400 → Search 45,200 → Payment 6,030 → Confirmation 452, and its splits by sex and
  by device (see /work/shared/data/events/ecommerce_funnel README notes in events/README.md).
- CDNOW (23,570 customers of Q1 1997, 69,659 transactions to June 1998): the record and
  customer counts, the per-customer repeat purchases (frequency) of the 1/10 sample up to
  1997-09-30 against the published `cdnow_customers_summary.csv` (2,457 repeat purchases in
  all), and monthly repeat-purchase retention against a plain DuckDB query.

The data is read in place from the shared folder (no licence for the funnel data: it is never
copied); the tests skip when the folder is absent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa
import pytest

from productops.analytics import analyses as A
from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.workspace import init_workspace
from tests.conftest import SHARED_DATA

EVENTS_DATA = SHARED_DATA / "events"
FUNNEL_DIR = EVENTS_DATA / "ecommerce_funnel"
CDNOW_DIR = EVENTS_DATA / "cdnow"

pytestmark = pytest.mark.skipif(
    not EVENTS_DATA.is_dir(), reason=f"the shared reference data is absent ({EVENTS_DATA})"
)

# event name (the page, as the files name it) -> its file
PAGE_FILES = {
    "home_page": "home_page_table.csv",
    "search_page": "search_page_table.csv",
    "payment_page": "payment_page_table.csv",
    "payment_confirmation_page": "payment_confirmation_table.csv",
}
PAGES = list(PAGE_FILES)
PURCHASE = "Order Completed"


def _events_from_sql(sql: str) -> pa.Table:
    """Rows of the store's event columns, computed by DuckDB straight from the CSV files."""
    with duckdb.connect() as con:
        table: pa.Table = con.execute(sql).to_arrow_table()
    return table.select(store.ARROW_SCHEMA.names).cast(store.ARROW_SCHEMA)


def _load(path: Path, events: pa.Table, persons_sql: str | None = None) -> None:
    con = store.connect(path)
    try:
        con.execute("BEGIN")
        store.append_arrow(con, events)
        if persons_sql:
            con.execute(f"INSERT INTO persons {persons_sql}")
        con.execute("COMMIT")
    finally:
        con.close()


# --- ecommerce funnel --------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecommerce(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not FUNNEL_DIR.is_dir():
        pytest.skip(f"{FUNNEL_DIR} is absent")
    ws = init_workspace(tmp_path_factory.mktemp("ecommerce") / "ws", name="Ecommerce")
    users = f"read_csv('{FUNNEL_DIR / 'user_table.csv'}')"
    # One event per page visit per user, at the user's date (the data has no times of day).
    visits = " UNION ALL ".join(
        f"SELECT user_id, '{page}' AS page FROM read_csv('{FUNNEL_DIR / file}')"
        for page, file in PAGE_FILES.items()
    )
    events = _events_from_sql(
        f"""
        SELECT CAST(v.user_id AS VARCHAR) || ':' || v.page AS event_id, v.page AS event,
               'page' AS type, CAST(u.date AS TIMESTAMP) AS ts,
               CAST(u.date AS TIMESTAMP) AS received_at, CAST(v.user_id AS VARCHAR) AS distinct_id,
               CAST(v.user_id AS VARCHAR) AS user_id, NULL::VARCHAR AS anonymous_id,
               NULL::VARCHAR AS account_id,
               'ecommerce_funnel' AS source, '{{}}'::VARCHAR AS properties
        FROM ({visits}) v JOIN {users} u USING (user_id)
        """
    )
    _load(
        events_file(ws),
        events,
        f"""SELECT CAST(user_id AS VARCHAR), NULL,
                   json_object('sex', sex, 'device', device), CAST(date AS TIMESTAMP),
                   CAST(date AS TIMESTAMP)
            FROM {users}""",
    )
    con = store.connect(events_file(ws), read_only=True)
    yield ibis.duckdb.from_connection(con)
    con.close()
    ws.close()


def _counts(result: A.Insight) -> dict[str, list[int]]:
    return {
        str(b): [int(n) for n in g.sort_values("step")["persons"]]
        for b, g in result.data.groupby("breakdown")
    }


def _ecommerce_funnel(con: Any, breakdown: str | None = None) -> dict[str, list[int]]:
    return _counts(
        A.funnel(con, PAGES, dt.date(2015, 1, 1), dt.date(2015, 4, 30), breakdown=breakdown)
    )


def test_ecommerce_funnel_matches_the_published_counts(ecommerce: Any) -> None:
    assert _ecommerce_funnel(ecommerce) == {"all": [90_400, 45_200, 6_030, 452]}


def test_ecommerce_funnel_by_sex_matches_the_published_split(ecommerce: Any) -> None:
    assert _ecommerce_funnel(ecommerce, "person.sex") == {
        "Female": [45_075, 22_676, 3_100, 241],
        "Male": [45_325, 22_524, 2_930, 211],
    }


def test_ecommerce_funnel_by_device_matches_the_reference_split(ecommerce: Any) -> None:
    assert _ecommerce_funnel(ecommerce, "person.device") == {
        "Desktop": [60_200, 30_100, 3_010, 150],
        "Mobile": [30_200, 15_100, 3_020, 302],
    }


def test_ecommerce_conversion_rates(ecommerce: Any) -> None:
    result = A.funnel(ecommerce, PAGES, dt.date(2015, 1, 1), dt.date(2015, 4, 30))
    assert result.data["conversion"].round(4).tolist() == [1.0, 0.5, 0.0667, 0.005]


# --- CDNOW -------------------------------------------------------------------------------


def _whitespace_rows(path: Path, columns: list[str], skip_header: bool) -> str:
    """validate_duckdb.py's reader: whitespace-separated columns as VARCHARs."""
    sel = ", ".join(f"a[{i + 1}] AS {c}" for i, c in enumerate(columns))
    where = "WHERE trim(column0) NOT LIKE 'customer_id%'" if skip_header else ""
    return f"""SELECT {sel} FROM (SELECT regexp_split_to_array(trim(column0), '\\s+') AS a
        FROM read_csv('{path}', header=false, columns={{'column0': 'VARCHAR'}}, delim='\\t')
        {where})"""


def _purchases(rows_sql: str, customer: str, tag: str) -> pa.Table:
    return _events_from_sql(
        f"""
        SELECT '{tag}' || row_number() OVER () AS event_id, '{PURCHASE}' AS event,
               'track' AS type, strptime(dt, '%Y%m%d') AS ts, strptime(dt, '%Y%m%d') AS received_at,
               CAST(CAST({customer} AS INT) AS VARCHAR) AS distinct_id,
               CAST(CAST({customer} AS INT) AS VARCHAR) AS user_id, NULL::VARCHAR AS anonymous_id,
               NULL::VARCHAR AS account_id, 'cdnow' AS source,
               json_object('cds', CAST(cds AS INT), 'dollars', CAST(amt AS DOUBLE))::VARCHAR
                 AS properties
        FROM ({rows_sql})
        """
    )


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(master, sample): the full cohort and the 1/10 sample, each in its own event store."""
    if not CDNOW_DIR.is_dir():
        pytest.skip(f"{CDNOW_DIR} is absent")
    root = tmp_path_factory.mktemp("cdnow")
    master_ws = init_workspace(root / "master", name="CDNOW")
    sample_ws = init_workspace(root / "sample", name="CDNOW sample")
    master = _whitespace_rows(CDNOW_DIR / "CDNOW_master.txt", ["cust", "dt", "cds", "amt"], True)
    sample = _whitespace_rows(
        CDNOW_DIR / "CDNOW_sample.txt", ["cust", "newid", "dt", "cds", "amt"], False
    )
    _load(events_file(master_ws), _purchases(master, "cust", "m"))
    _load(events_file(sample_ws), _purchases(sample, "newid", "s"))
    cons = [store.connect(events_file(w), read_only=True) for w in (master_ws, sample_ws)]
    yield ibis.duckdb.from_connection(cons[0]), ibis.duckdb.from_connection(cons[1])
    for con in cons:
        con.close()
    master_ws.close()
    sample_ws.close()


FIRST_DAY, LAST_DAY = dt.date(1997, 1, 1), dt.date(1998, 6, 30)
CALIBRATION_END = dt.date(1997, 9, 30)
BUYERS = A.ActivityFilter(events=[PURCHASE])


def test_cdnow_has_the_published_records_and_customers(cdnow: tuple[Any, Any]) -> None:
    master, _ = cdnow
    assert master.table("events").count().execute() == 69_659
    # everyone bought on at least one day: the days-active histogram covers every customer
    hist = A.stickiness(master, FIRST_DAY, LAST_DAY, grain="month", activity=BUYERS)
    assert int(hist.days_active.data["persons"].sum()) == 23_570
    # the whole cohort made its first purchase in Q1 1997
    monthly = A.retention(
        master, FIRST_DAY, LAST_DAY, start_event=PURCHASE, grain="month", periods=17
    )
    sizes = monthly.data.groupby("cohort")["cohort_size"].first()
    assert int(sizes.sum()) == 23_570
    assert [c.month for c in sizes.index] == [1, 2, 3]


def test_cdnow_repeat_purchases_match_the_published_customer_summary(
    cdnow: tuple[Any, Any],
) -> None:
    _, sample = cdnow
    # frequency = purchase days - 1 up to 1997-09-30: PostHog's stickiness, by day
    days_active = A.stickiness(sample, FIRST_DAY, CALIBRATION_END, activity=BUYERS).days_active
    ours = {
        int(k) - 1: int(n)
        for k, n in days_active.data[["active_periods", "persons"]].itertuples(index=False)
        if n
    }
    with duckdb.connect() as con:
        published = dict(
            con.execute(
                "SELECT frequency, count(*) "
                f"FROM read_csv('{CDNOW_DIR / 'cdnow_customers_summary.csv'}') GROUP BY 1"
            ).fetchall()
        )
    assert sum(published.values()) == 2_357
    assert ours == published
    assert sum(f * n for f, n in ours.items()) == 2_457


def test_cdnow_monthly_repeat_purchase_retention_matches_plain_sql(
    cdnow: tuple[Any, Any],
) -> None:
    master, _ = cdnow
    result = A.retention(
        master,
        FIRST_DAY,
        LAST_DAY,
        start_event=PURCHASE,
        grain="month",
        periods=17,
    )
    ours = {
        (c, int(p)): int(n)
        for c, p, n in result.data[["cohort", "period", "persons"]].itertuples(index=False)
        if n
    }
    master_rows = _whitespace_rows(
        CDNOW_DIR / "CDNOW_master.txt", ["cust", "dt", "cds", "amt"], True
    )
    with duckdb.connect() as con:
        reference = con.execute(
            f"""
            WITH p AS (SELECT DISTINCT CAST(cust AS INT) AS c,
                              date_trunc('month', strptime(dt, '%Y%m%d'))::DATE AS m
                       FROM ({master_rows})),
                 f AS (SELECT c, min(m) AS cohort FROM p GROUP BY c)
            SELECT f.cohort, datediff('month', f.cohort, p.m) AS n, count(*)
            FROM f JOIN p USING (c) GROUP BY 1, 2
            """
        ).fetchall()
    assert ours == {(c, int(n)): int(k) for c, n, k in reference}
    # January's 7,846 first-time buyers: 14.7 % buy again in February
    jan = result.data[result.data.cohort == dt.date(1997, 1, 1)].set_index("period")
    assert (jan.loc[0, "persons"], round(jan.loc[1, "percent"], 1)) == (7_846, 14.7)
