"""Who is asking and what they may do: users, password hashing, browser sessions, sign-in
throttling, API keys and the one permission check everything uses."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, distinct, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from productops.core.models import ApiKey, LoginAttempt, LoginSession, Role, Scope, User

if TYPE_CHECKING:
    from productops.core.settings import Settings

_hasher = PasswordHasher()
# Spent on unknown emails so that a login's timing does not tell who has an account.
_DUMMY_HASH = _hasher.hash("productops-timing-equaliser")

MIN_PASSWORD_LENGTH = 10


# --- permissions -------------------------------------------------------------------------


class Permission:
    """The house's permissions. Roles and API-key scopes map onto permissions; routes ask
    for one, never for a role. Pillars add their own through the pillar contract (their
    `permissions` module), e.g. `people.pii`."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    INGEST = "ingest"


@dataclass(frozen=True)
class PermissionSpec:
    """A permission a pillar adds: who gets it. Admins (role and key scope) always do."""

    description: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


BASE_ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.admin: frozenset({Permission.READ, Permission.WRITE, Permission.ADMIN}),
    Role.editor: frozenset({Permission.READ, Permission.WRITE}),
    Role.researcher: frozenset({Permission.READ}),
    Role.viewer: frozenset({Permission.READ}),
}

BASE_SCOPE_PERMISSIONS: dict[Scope, frozenset[str]] = {
    Scope.ingest: frozenset({Permission.INGEST}),
    Scope.read: frozenset({Permission.READ}),
    Scope.write: frozenset({Permission.READ, Permission.WRITE}),
    Scope.admin: frozenset(
        {Permission.READ, Permission.WRITE, Permission.ADMIN, Permission.INGEST}
    ),
}


def pillar_permissions() -> dict[str, PermissionSpec]:
    """Every permission the pillars add, by name."""
    from productops.core import pillars

    found: dict[str, PermissionSpec] = {}
    for pillar, module in pillars.parts("permissions"):
        for name, spec in getattr(module, "PERMISSIONS", {}).items():
            if name in found or name in vars(Permission).values():
                raise ValueError(f"permission '{name}' of {pillar.name} is declared twice")
            found[name] = spec
    return found


def role_permissions(role: Role | str) -> frozenset[str]:
    """What a person with `role` may do."""
    role = Role(role)
    extra = {
        name
        for name, spec in pillar_permissions().items()
        if role == Role.admin or str(role) in spec.roles
    }
    return BASE_ROLE_PERMISSIONS[role] | extra


def scope_permissions(scope: Scope | str) -> frozenset[str]:
    """What an API key of `scope` may do."""
    scope = Scope(scope)
    extra = {
        name
        for name, spec in pillar_permissions().items()
        if scope == Scope.admin or str(scope) in spec.scopes
    }
    return BASE_SCOPE_PERMISSIONS[scope] | extra


@dataclass(frozen=True)
class Principal:
    """The caller of one request: a signed-in person or an API key."""

    kind: str  # "user" | "apikey" | "cli"
    id: int | None
    name: str
    permissions: frozenset[str]
    role: Role | None = None
    scope: Scope | None = None
    csrf_token: str | None = None
    display_name: str = ""

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.kind}:{self.id}:{self.name}" if self.id is not None else self.kind

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.can(permission):
            who = f"role {self.role}" if self.role else f"scope {self.scope}"
            raise PermissionDenied(f"{who} does not allow '{permission}'")


def cli_principal() -> Principal:
    """The command line on the workspace's own machine: an admin."""
    return Principal(
        kind="cli", id=None, name="cli", permissions=role_permissions(Role.admin), role=Role.admin
    )


def principal_for_user(user: User, csrf_token: str | None = None) -> Principal:
    return Principal(
        kind="user",
        id=user.id,
        name=user.email,
        permissions=role_permissions(user.role),
        role=user.role,
        csrf_token=csrf_token,
        display_name=user.name,
    )


# --- users ---------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise InvalidInput(f"'{email}' is not an email address")
    return email


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str,
    role: Role | str = Role.viewer,
    actor: str = "system",
) -> User:
    """Add a person who can sign in. Raises Conflict when the email is taken."""
    user = User(
        email=normalise_email(email),
        name=name.strip() or email,
        role=Role(role),
        password_hash=hash_password(password),
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a user with email {user.email} already exists") from exc
    audit.record(
        session,
        actor,
        "user.create",
        "user",
        user.id,
        {"email": user.email, "role": str(user.role)},
    )
    return user


def _refuse_removing_last_admin(session: Session, user: User) -> None:
    admins = session.scalar(
        select(func.count(User.id)).where(User.role == Role.admin, User.is_active.is_(True))
    )
    if user.role == Role.admin and user.is_active and (admins or 0) <= 1:
        raise Conflict("this is the last active admin: make someone else admin first")


def set_role(session: Session, user_id: int, role: Role | str, actor: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if Role(role) != Role.admin:
        _refuse_removing_last_admin(session, user)
    old = user.role
    user.role = Role(role)
    audit.record(
        session, actor, "user.role", "user", user.id, {"from": str(old), "to": str(user.role)}
    )
    return user


def set_active(session: Session, user_id: int, active: bool, actor: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if not active:
        _refuse_removing_last_admin(session, user)
    user.is_active = active
    if not active:
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    audit.record(session, actor, "user.activate" if active else "user.deactivate", "user", user.id)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)).all())


# --- sign-in throttling ---------------------------------------------------------------------
#
# Guessing is slowed down; nobody is locked out (OWASP). The failures of the last
# `window_seconds` are counted three ways, and past its allowance a count makes the next
# attempt wait 1, 2, 4, … seconds (at most `max_delay_seconds`) after its latest failure:
#   - one email from one address, `max_failures` allowed: someone guessing a password;
#   - one address, once it has failed for SPREAD_FACTOR x `max_failures` different emails,
#     that many allowed: spraying passwords from one machine;
#   - one email, once it has failed from `max_failures` different addresses,
#     SPREAD_FACTOR x `max_failures` allowed: guessing from many machines.
# So guessing at one account slows no other account, nor that account from elsewhere. The
# spread counts do not apply from an address the person has signed in from before
# (KNOWN_ADDRESS_DAYS): colleagues behind a sprayer's proxy and the owner of an account
# guessed at from a botnet are not slowed. While an attempt must wait its password is not
# checked and nothing is recorded, so waiting attempts do not lengthen the wait.

SPREAD_FACTOR = 4
KNOWN_ADDRESS_DAYS = 90


@dataclass(frozen=True)
class LoginLimits:
    """How sign-in attempts are throttled (the `login_*` settings)."""

    max_failures: int = 5
    window_seconds: int = 900
    max_delay_seconds: int = 60

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            max_failures=settings.login_max_failures,
            window_seconds=settings.login_window_seconds,
            max_delay_seconds=settings.login_max_delay_seconds,
        )

    def delay(self, failures: int, allowed: int) -> int:
        """Seconds the next attempt waits after `failures`, of which `allowed` are free."""
        if failures < allowed:
            return 0
        return int(min(2 ** min(failures - allowed, 30), self.max_delay_seconds))


def check_login_allowed(
    session: Session,
    email: str,
    ip: str | None,
    limits: LoginLimits,
    now: dt.datetime | None = None,
) -> None:
    """Raise RateLimited while a sign-in for `email` from `ip` must wait (see above)."""
    now = now or utcnow()
    failed = and_(
        LoginAttempt.succeeded.is_(False),
        LoginAttempt.at >= now - dt.timedelta(seconds=limits.window_seconds),
    )
    spread = SPREAD_FACTOR * limits.max_failures
    waits: list[tuple[float, str]] = []

    def wait(failures: int, last: dt.datetime | None, allowed: int, whose: str) -> None:
        delay = limits.delay(failures, allowed)
        if delay and last is not None:
            waits.append(((last - now).total_seconds() + delay, whose))

    failures, last = session.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(
            failed, LoginAttempt.email == email, LoginAttempt.ip == ip
        )
    ).one()
    wait(failures, last, limits.max_failures, "for this email from your address")
    if not _known_address(session, email, ip, now):
        if ip is not None:
            emails, failures, last = session.execute(
                select(
                    func.count(distinct(LoginAttempt.email)),
                    func.count(),
                    func.max(LoginAttempt.at),
                ).where(failed, LoginAttempt.ip == ip)
            ).one()
            if emails >= spread:
                wait(failures, last, spread, "from your address")
        addresses, failures, last = session.execute(
            select(
                func.count(distinct(LoginAttempt.ip)), func.count(), func.max(LoginAttempt.at)
            ).where(failed, LoginAttempt.email == email)
        ).one()
        if addresses >= limits.max_failures:
            wait(failures, last, spread, "for this email from many addresses")
    seconds, whose = max(waits, default=(0.0, ""))
    if seconds > 0:
        retry_after = max(1, math.ceil(seconds))
        raise RateLimited(
            f"Too many failed sign-ins {whose}. Wait {retry_after} "
            f"second{'s' if retry_after != 1 else ''} and try again: until then no password "
            "is checked, not even the right one.",
            retry_after=retry_after,
        )


def _known_address(session: Session, email: str, ip: str | None, now: dt.datetime) -> bool:
    """Whether `email` signed in from `ip` in the last KNOWN_ADDRESS_DAYS."""
    if ip is None:
        return False
    found = session.scalar(
        select(LoginAttempt.id)
        .where(
            LoginAttempt.succeeded.is_(True),
            LoginAttempt.email == email,
            LoginAttempt.ip == ip,
            LoginAttempt.at >= now - dt.timedelta(days=KNOWN_ADDRESS_DAYS),
        )
        .limit(1)
    )
    return found is not None


def _one_attempt_at_a_time(session: Session, email: str, ip: str | None) -> None:
    """Serialise the attempts for an email and from an address, so that a burst of parallel
    requests cannot all pass the check before any failure is recorded. SQLite needs nothing:
    a sign-in runs in a write transaction, which SQLite already serialises."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(
        int.from_bytes(hashlib.sha256(k.encode()).digest()[:8], "big", signed=True)
        for k in {f"login-email:{email}", f"login-ip:{ip}"}
    )
    for key in keys:  # always in the same order: two attempts never wait for each other
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _record_attempt(
    session: Session,
    email: str,
    ip: str | None,
    succeeded: bool,
    limits: LoginLimits,
    now: dt.datetime,
) -> None:
    if succeeded:
        # This address's failures for the email are forgiven, and the address is known.
        # Failures from other addresses stay: they are someone else's.
        session.execute(
            delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.ip == ip)
        )
    session.add(LoginAttempt(email=email, ip=ip, at=now, succeeded=succeeded))
    session.execute(
        delete(LoginAttempt).where(
            or_(
                and_(
                    LoginAttempt.succeeded.is_(False),
                    LoginAttempt.at < now - dt.timedelta(seconds=limits.window_seconds),
                ),
                LoginAttempt.at < now - dt.timedelta(days=KNOWN_ADDRESS_DAYS),
            )
        )
    )
    session.flush()


def authenticate(
    session: Session,
    email: str,
    password: str,
    ip: str | None = None,
    limits: LoginLimits | None = None,
) -> User:
    """The user whose email and password these are, or AuthenticationFailed / RateLimited
    (while this email or address must wait after failures; the password is then not
    checked)."""
    limits = limits or LoginLimits()
    try:
        email = normalise_email(email)
    except ValueError:
        email = email.strip().lower()[:320]
    ip = ip[:64] if ip else None
    _one_attempt_at_a_time(session, email, ip)
    now = utcnow()
    check_login_allowed(session, email, ip, limits, now)
    user = session.scalar(select(User).where(User.email == email))
    ok = False
    if user is None:
        _verify(_DUMMY_HASH, password)
    else:
        ok = _verify(user.password_hash, password) and user.is_active
    if not ok or user is None:
        _record_attempt(session, email, ip, False, limits, now)
        raise AuthenticationFailed("email or password is wrong")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = now
    _record_attempt(session, email, ip, True, limits, now)
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(session: Session, user_id: int, new_password: str, actor: str) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    user.password_hash = hash_password(new_password)
    session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    audit.record(session, actor, "user.password", "user", user.id)


# --- browser sessions --------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _session_hash(secret_key: str, token: str) -> str:
    # Keyed with the workspace secret: rotating the secret signs everyone out, and a copy of
    # the database alone cannot be matched against cookies.
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def start_session(
    session: Session,
    user: User,
    max_age_hours: int,
    secret_key: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, LoginSession]:
    """A new browser session; returns the cookie token (shown once, stored as a keyed hash)."""
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=_session_hash(secret_key, token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utcnow() + dt.timedelta(hours=max_age_hours),
        ip=ip,
        user_agent=(user_agent or "")[:300],
    )
    session.add(row)
    session.flush()
    return token, row


def session_for_token(session: Session, token: str, secret_key: str) -> LoginSession | None:
    """The live session behind a cookie, or None when unknown, expired or the user is off."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(
        select(LoginSession).where(LoginSession.token_hash == _session_hash(secret_key, token))
    )
    if row is None or row.expires_at <= utcnow() or not row.user.is_active:
        return None
    return row


def end_session(session: Session, token: str, secret_key: str) -> None:
    session.execute(
        delete(LoginSession).where(LoginSession.token_hash == _session_hash(secret_key, token))
    )


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# --- API keys ------------------------------------------------------------------------------

API_KEY_PREFIX = "po"


@dataclass(frozen=True)
class NewApiKey:
    """A key as created: `secret` is the only time the full key is visible."""

    id: int
    name: str
    scope: Scope
    secret: str


def create_api_key(
    session: Session, name: str, scope: Scope | str, actor: str, created_by_id: int | None = None
) -> NewApiKey:
    """Make a key with one scope. Only its SHA-256 is stored; the full key is returned once."""
    scope = Scope(scope)
    prefix = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name.strip() or f"{scope} key",
        prefix=prefix,
        key_hash=_sha256(secret),
        scope=scope,
        created_by_id=created_by_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "apikey.create",
        "api_key",
        row.id,
        {"name": row.name, "scope": str(scope), "prefix": prefix},
    )
    return NewApiKey(id=row.id, name=row.name, scope=scope, secret=secret)


def api_key_for_secret(session: Session, secret: str) -> ApiKey | None:
    """The live key this secret belongs to, compared in constant time, or None."""
    parts = secret.strip().split("_")
    if len(parts) < 3 or parts[0] != API_KEY_PREFIX or len(secret) > 200:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or row.revoked_at is not None:
        # Same work as a real comparison, so timing does not reveal valid prefixes.
        hmac.compare_digest(_sha256(secret), _sha256("x"))
        return None
    if not hmac.compare_digest(row.key_hash, _sha256(secret)):
        return None
    return row


def key_use_to_record(key: ApiKey) -> Any | None:
    """The update stamping `last_used_at` (at most once a minute), or None. The caller runs it
    on its own (`db.best_effort_write`), never inside a request's transaction."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at <= dt.timedelta(minutes=1):
        return None
    return update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)


def principal_for_api_key(key: ApiKey) -> Principal:
    return Principal(
        kind="apikey",
        id=key.id,
        name=key.name,
        permissions=scope_permissions(key.scope),
        scope=key.scope,
    )


def revoke_api_key(session: Session, key_id: int, actor: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "apikey.revoke", "api_key", row.id, {"name": row.name})
    return row


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id.desc())).all())
