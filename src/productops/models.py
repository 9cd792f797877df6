"""Every domain's tables, imported in one place so Alembic and `create_all` see them all."""

from productops.analytics.models import Dashboard
from productops.core.models import (
    ApiKey,
    AuditEvent,
    Job,
    LoginAttempt,
    LoginSession,
    Team,
    TeamMember,
    User,
)
from productops.customers.models import Account, Person

__all__ = [
    "Account",
    "ApiKey",
    "AuditEvent",
    "Dashboard",
    "Job",
    "LoginAttempt",
    "LoginSession",
    "Person",
    "Team",
    "TeamMember",
    "User",
]
