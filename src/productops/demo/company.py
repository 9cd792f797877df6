"""The demo company's customers and product organisation: accounts with ARR, plan, segment
and region; the people who use the product; product teams and their PMs."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import insert, select

from productops.core import auth, teams
from productops.core.db import transaction
from productops.core.models import Role
from productops.customers.models import Account, Person
from productops.demo import DemoContext, demo_step

DEMO_ADMIN_EMAIL = "admin@demo.productops.dev"

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
_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Mei",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
    "Aiko",
    "Bruno",
    "Chen",
    "Dara",
)
_LAST = (
    "Adams",
    "Brown",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quispe",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Varga",
    "Wang",
    "Xu",
    "Yilmaz",
    "Zhang",
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
TEAMS = (
    ("Growth", "Sign-up, onboarding, activation and upgrades."),
    ("Collaboration", "Shared workspaces, comments, mentions and notifications."),
    ("Core Platform", "Performance, permissions, SSO and the data model."),
    ("Integrations", "Slack, Salesforce, Jira and the public API."),
    ("Insights", "Dashboards, reports and exports inside the product."),
    ("Mobile", "The iOS and Android apps."),
)


def _joined_after(rng: Any, span: float) -> float:
    """Days after the account started that a person joined: most join early, some later."""
    days = float(rng.expovariate(1 / 120))
    return days if days < span else float(rng.uniform(0, span))


def _pick(rng: Any, weighted: tuple[tuple[str, float], ...]) -> str:
    names = [w[0] for w in weighted]
    weights = [w[1] for w in weighted]
    return str(rng.choices(names, weights=weights, k=1)[0])


@demo_step("company.accounts", "Accounts with plans, segments, regions and ARR", weight=1)
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


@demo_step("company.people", "People who use the product", after=("company.accounts",), weight=3)
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
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
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


@demo_step("company.org", "Product teams, PMs and sign-ins", weight=1)
def make_org(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("company.org")
    made_users = 0
    with transaction(ctx.workspace.sessions) as s:
        auth.create_user(
            s, DEMO_ADMIN_EMAIL, "Demo Admin", secrets.token_urlsafe(16), Role.admin, actor="demo"
        )
        others = (
            ("viewer@demo.productops.dev", "Vic Viewer", Role.viewer),
            ("research@demo.productops.dev", "Rae Researcher", Role.researcher),
        )
        for email, name, role in others:
            auth.create_user(s, email, name, secrets.token_urlsafe(16), role, actor="demo")
        made_users += 3
        team_rows = [teams.create_team(s, name, desc, actor="demo") for name, desc in TEAMS]
        used: set[str] = set()
        for i in range(ctx.scale.pms):
            while True:
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                if f"{first} {last}" not in used:
                    break
            used.add(f"{first} {last}")
            user = auth.create_user(
                s,
                f"{first.lower()}.{last.lower()}@demo.productops.dev",
                f"{first} {last}",
                secrets.token_urlsafe(16),
                Role.editor,
                actor="demo",
            )
            made_users += 1
            team = team_rows[i % len(team_rows)]
            title = (
                "Group Product Manager"
                if i < len(team_rows)
                else rng.choice(
                    ("Product Manager", "Senior Product Manager", "Associate Product Manager")
                )
            )
            teams.add_member(s, team.id, user.id, title, actor="demo")
            ctx.progress(int(1000 * (i + 1) / ctx.scale.pms))
    return {"users": made_users, "teams": len(TEAMS)}
