"""The demo company's customers: accounts with ARR, plan, segment and region, and the
people who use the product."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select

from productops.core.db import transaction
from productops.core.demo import FIRST_NAMES, LAST_NAMES, DemoContext, demo_step
from productops.customers.models import Account, Person

_PREFIXES = (
    "Blue",
    "North",
    "Bright",
    "Iron",
    "Silver",
    "Clear",
    "Swift",
    "Green",
    "Quiet",
    "Red",
    "Solid",
    "Open",
    "True",
    "Deep",
    "High",
    "Bold",
    "Prime",
    "Lumen",
    "Cedar",
    "Harbor",
    "Summit",
    "Nova",
    "Atlas",
    "Orbit",
    "Pixel",
    "Vector",
    "Maple",
    "Granite",
)
_CORES = (
    "Leaf",
    "Stone",
    "River",
    "Peak",
    "Field",
    "Wave",
    "Forge",
    "Path",
    "Gate",
    "Bridge",
    "Works",
    "Labs",
    "Point",
    "Line",
    "Grid",
    "Cloud",
    "Signal",
    "Craft",
    "Loop",
    "Mint",
)
_SUFFIXES = (
    "",
    " Inc",
    " Ltd",
    " GmbH",
    " Group",
    " Systems",
    " Health",
    " Logistics",
    " Studio",
    " Analytics",
    " Retail",
    " Bank",
    " Energy",
    " Media",
    " Foods",
)
_TITLES = (
    "Engineer",
    "Product Manager",
    "Designer",
    "Analyst",
    "Customer Success",
    "Sales",
    "Operations",
    "Marketing",
    "Finance",
    "Support",
    "Team Lead",
    "Director",
)
_COUNTRIES = {
    "NA": ("US", "CA"),
    "EMEA": ("GB", "DE", "FR", "NL", "SE", "ES"),
    "APAC": ("JP", "AU", "SG", "IN"),
    "LATAM": ("BR", "MX", "AR"),
}

# segment -> (share of accounts, typical seats, median ARR)
SEGMENTS = {
    "SMB": (0.62, 8, 4_000),
    "Mid-Market": (0.30, 40, 38_000),
    "Enterprise": (0.08, 220, 240_000),
}
PLANS_BY_SEGMENT = {
    "SMB": (("free", 0.35), ("starter", 0.45), ("growth", 0.20)),
    "Mid-Market": (("starter", 0.15), ("growth", 0.65), ("enterprise", 0.20)),
    "Enterprise": (("growth", 0.15), ("enterprise", 0.85)),
}
REGIONS = (("NA", 0.45), ("EMEA", 0.32), ("APAC", 0.15), ("LATAM", 0.08))


def _joined_after(rng: Any, span: float) -> float:
    """Days after the account started that a person joined: most join early, some later."""
    days = float(rng.expovariate(1 / 120))
    return days if days < span else float(rng.uniform(0, span))


def _pick(rng: Any, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [w[0] for w in weighted]
    weights = [w[1] for w in weighted]
    return str(rng.choices(names, weights=weights, k=1)[0])


@demo_step(
    "customers.accounts", "Accounts with plans, segments, regions and ARR", weight=1, first=True
)
def make_accounts(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("company.accounts")
    nrng = ctx.np_rng("company.accounts")
    n = ctx.scale.accounts
    seen_names: set[str] = set()
    rows: list[dict[str, Any]] = []
    seats: list[int] = []
    start = ctx.anchor_datetime - dt.timedelta(days=4 * 365)
    for i in range(n):
        segment = _pick(rng, tuple((k, v[0]) for k, v in SEGMENTS.items()))
        _, typical_seats, median_arr = SEGMENTS[segment]
        plan = _pick(rng, PLANS_BY_SEGMENT[segment])
        region = _pick(rng, REGIONS)
        while True:
            name = f"{rng.choice(_PREFIXES)}{rng.choice(_CORES)}{rng.choice(_SUFFIXES)}"
            if name not in seen_names:
                break
            name = f"{name} {rng.randint(2, 99)}"
            if name not in seen_names:
                break
        seen_names.add(name)
        arr = 0.0 if plan == "free" else round(float(nrng.lognormal(0, 0.6)) * median_arr, -2)
        seats.append(max(1, int(nrng.lognormal(0, 0.5) * typical_seats)))
        created = start + dt.timedelta(days=rng.uniform(0, 4 * 365 - 30))
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:40]
        rows.append(
            {
                "external_id": f"acct_{i + 1:05d}",
                "name": name,
                "domain": f"{slug}.example",
                "plan": plan,
                "segment": segment,
                "region": region,
                "arr": arr,
                "traits": {
                    "industry": rng.choice(
                        (
                            "Software",
                            "Retail",
                            "Finance",
                            "Health",
                            "Manufacturing",
                            "Education",
                            "Media",
                        )
                    ),
                    "seats": seats[-1],
                    "country": rng.choice(_COUNTRIES[region]),
                },
                "created_at": created,
            }
        )
        if i % 200 == 0:
            ctx.progress(int(600 * i / n))
    with transaction(ctx.workspace.sessions) as s:
        s.execute(insert(Account), rows)
        ids = list(s.scalars(select(Account.id).order_by(Account.id)).all())
    ctx.data["accounts"] = [
        {
            "id": aid,
            "seats": seats[i],
            "created_at": rows[i]["created_at"],
            "domain": rows[i]["domain"],
            "region": rows[i]["region"],
            "plan": rows[i]["plan"],
            "segment": rows[i]["segment"],
        }
        for i, aid in enumerate(ids)
    ]
    return {"accounts": n, "total_arr": round(sum(r["arr"] for r in rows), 2)}


@demo_step(
    "customers.people",
    "People who use the product",
    after=("customers.accounts",),
    weight=3,
    first=True,
)
def make_people(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("company.people")
    accounts = ctx.data["accounts"]
    target = ctx.scale.people
    weights = [a["seats"] for a in accounts]
    total_seats = sum(weights)
    # Give every account at least one person, the rest in proportion to seats.
    counts = [1 + int((target - len(accounts)) * w / total_seats) for w in weights]
    short = target - sum(counts)
    for i in rng.choices(range(len(accounts)), weights=weights, k=max(0, short)):
        counts[i] += 1
    batch: list[dict[str, Any]] = []
    made = 0

    def flush() -> None:
        # Short transactions, so the job's progress (and the web UI) can write in between.
        with transaction(ctx.workspace.sessions) as s:
            s.execute(insert(Person), batch)
        batch.clear()
        ctx.progress(int(1000 * made / target))

    for account, count in zip(accounts, counts, strict=True):
        span = max(1.0, (ctx.anchor_datetime - account["created_at"]).days - 1)
        for _ in range(count):
            made += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            batch.append(
                {
                    "external_id": f"user_{made:06d}",
                    "account_id": account["id"],
                    "email": f"{first.lower()}.{last.lower()}{made}@{account['domain']}",
                    "name": f"{first} {last}",
                    "traits": {
                        "job_title": rng.choice(_TITLES),
                        "country": rng.choice(_COUNTRIES[account["region"]]),
                    },
                    "created_at": account["created_at"]
                    + dt.timedelta(days=_joined_after(rng, span)),
                }
            )
            if len(batch) >= 5000:
                flush()
    if batch:
        flush()
    ctx.data["people"] = made
    return {"people": made}
