"""What SDKs read: client keys scoped to one environment (and project), the GrowthBook
features payload they are served, and evaluation in-process or over REST.

    client = FlagClient(ws, environment="production")
    client.value("new-checkout", {"id": "user-1", "country": "US"}, default=False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import InvalidInput, NotFound
from productops.experiments.flags import service as flags
from productops.experiments.flags.compiled import CompiledFeatures
from productops.experiments.flags.evaluate import FeatureResult, evaluate_feature
from productops.experiments.models import Environment, Experiment, SdkConnection

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

KEY_PREFIX = "sdk-"
MAX_ATTRIBUTES_BYTES = 32_000


# --- client keys ---------------------------------------------------------------------------


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_connection(
    session: Session, name: str, environment_key: str, actor: str, *, project: str = ""
) -> tuple[SdkConnection, str]:
    """A client key that reads the flags of one environment (and of `project` only, when
    given). The key is returned once; only its hash is kept."""
    flags.ensure_environments(session, actor)
    env = flags.environment(session, environment_key)
    name = name.strip()
    if not name:
        raise InvalidInput("name: give the connection a name (the app that will use it)")
    secret = KEY_PREFIX + secrets.token_urlsafe(24)
    conn = SdkConnection(
        name=name[:200],
        key_prefix=secret[:10],
        key_hash=_hash(secret),
        environment_id=env.id,
        project=project.strip()[:100],
        created_by=actor,
    )
    session.add(conn)
    session.flush()
    audit.record(
        session,
        actor,
        "sdk_connection.create",
        "sdk_connection",
        conn.id,
        {"name": conn.name, "environment": env.key, "project": conn.project},
    )
    return conn, secret


def list_connections(session: Session) -> list[tuple[SdkConnection, str]]:
    rows = session.execute(
        select(SdkConnection, Environment.key)
        .join(Environment, Environment.id == SdkConnection.environment_id)
        .order_by(SdkConnection.id)
    ).all()
    return [(c, k) for c, k in rows]


def revoke_connection(session: Session, connection_id: int, actor: str) -> SdkConnection:
    conn = session.get(SdkConnection, connection_id)
    if conn is None:
        raise NotFound(f"no SDK connection {connection_id}")
    if conn.revoked_at is None:
        conn.revoked_at = utcnow()
        session.flush()
        audit.record(
            session, actor, "sdk_connection.revoke", "sdk_connection", conn.id, {"name": conn.name}
        )
    return conn


def connection_for_key(session: Session, key: str) -> tuple[SdkConnection, str] | None:
    """The live connection a client key names, with its environment's key; None for an
    unknown or revoked key."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    digest = _hash(key)
    row = session.execute(
        select(SdkConnection, Environment.key)
        .join(Environment, Environment.id == SdkConnection.environment_id)
        .where(SdkConnection.key_hash == digest)
    ).first()
    if row is None or row[0].revoked_at is not None:
        return None
    if not hmac.compare_digest(row[0].key_hash, digest):
        return None
    return row[0], row[1]


# --- payloads ------------------------------------------------------------------------------


def running_experiments(session: Session) -> set[str]:
    """Keys of the experiments whose rules are served (the running ones, and those not in
    the registry at all: a rule may run an experiment defined only by its key)."""
    rows = session.execute(select(Experiment.key, Experiment.status)).all()
    return {k for k, status in rows if status == "running"}


def registry_keys(session: Session) -> set[str]:
    return set(session.scalars(select(Experiment.key)))


def version(session: Session) -> tuple[Any, ...]:
    """Changes whenever anything in a payload could (flags, settings, experiments)."""
    exp = session.execute(select(func.count(Experiment.id), func.max(Experiment.updated_at))).one()
    return (*flags.flags_version(session), *exp)


def payload(session: Session, environment_key: str, project: str = "") -> dict[str, Any]:
    """GrowthBook's SDK payload for an environment (and project)."""
    running = _running_for(session)
    return {
        "status": 200,
        "features": flags.features(session, environment_key, project, running=running),
        "dateUpdated": utcnow().isoformat().replace("+00:00", "Z"),
    }


def _running_for(session: Session) -> set[str]:
    from productops.experiments.models import FlagSetting

    keys = {
        r.get("experiment_key")
        for rules in session.scalars(select(FlagSetting.rules))
        for r in rules or []
        if r.get("type") == "experiment"
    }
    known = registry_keys(session)
    return running_experiments(session) | {k for k in keys if isinstance(k, str) and k not in known}


@dataclass
class _Cached:
    version: tuple[Any, ...]
    generation: int
    payload: dict[str, Any]
    compiled: CompiledFeatures
    checked: float


_CACHE: dict[tuple[str, str, str], _Cached] = {}
_LOCK = threading.Lock()
RECHECK_SECONDS = 1.0


def cached_payload(
    ws: Workspace, session: Session, environment_key: str, project: str = ""
) -> tuple[dict[str, Any], CompiledFeatures]:
    """The payload and its compiled form, rebuilt only when a flag, setting or experiment
    changed (checked at most once a second)."""
    cache_key = (str(ws.path), environment_key, project)
    now = time.monotonic()
    hit = _CACHE.get(cache_key)
    generation = flags.GENERATION[0]
    if hit is not None and hit.generation == generation and now - hit.checked < RECHECK_SECONDS:
        return hit.payload, hit.compiled
    current = version(session)
    if hit is not None and hit.version == current and hit.generation == generation:
        hit.checked = now
        return hit.payload, hit.compiled
    body = payload(session, environment_key, project)
    compiled = CompiledFeatures(body["features"])
    with _LOCK:
        _CACHE[cache_key] = _Cached(current, generation, body, compiled, now)
    return body, compiled


# --- evaluation ----------------------------------------------------------------------------


def check_attributes(attributes: Any) -> dict[str, Any]:
    if not isinstance(attributes, dict):
        raise InvalidInput("attributes: expected an object of attribute: value")
    import json

    if len(json.dumps(attributes, default=str)) > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(f"attributes: over {MAX_ATTRIBUTES_BYTES:,} bytes")
    return attributes


def evaluate(
    compiled: CompiledFeatures,
    attributes: Mapping[str, Any],
    keys: list[str] | None = None,
    sticky: MutableMapping[str, dict[str, Any]] | None = None,
) -> dict[str, FeatureResult]:
    """Each flag (all of them, or `keys`) for one user. With `sticky` (the user's sticky-
    bucket documents, as the GrowthBook SDKs keep them), users keep their variation when
    weights or coverage change, and the documents are updated in place."""
    wanted = keys if keys is not None else list(compiled.features)
    if sticky is None:
        return {k: compiled.evaluate(k, attributes) for k in wanted}
    ctx = compiled.context(attributes, sticky=sticky)
    return {k: evaluate_feature(ctx, k) for k in wanted}


class FlagClient:
    """Flags evaluated in this Python process, from the workspace's database, refreshed when
    they change (checked at most every `refresh_seconds`)."""

    def __init__(
        self,
        ws: Workspace,
        environment: str = "production",
        project: str = "",
        refresh_seconds: float = 5.0,
    ) -> None:
        self.ws = ws
        self.environment = environment
        self.project = project
        self.refresh_seconds = refresh_seconds
        self._compiled: CompiledFeatures | None = None
        self._loaded = 0.0
        self.refresh()

    def refresh(self) -> None:
        with self.ws.sessions() as s:
            _, self._compiled = cached_payload(self.ws, s, self.environment, self.project)
        self._loaded = time.monotonic()

    @property
    def compiled(self) -> CompiledFeatures:
        if time.monotonic() - self._loaded > self.refresh_seconds or self._compiled is None:
            self.refresh()
        assert self._compiled is not None
        return self._compiled

    def evaluate(self, key: str, attributes: Mapping[str, Any]) -> FeatureResult:
        return self.compiled.evaluate(key, attributes)

    def value(self, key: str, attributes: Mapping[str, Any], default: Any = None) -> Any:
        return self.compiled.value(key, attributes, default)

    def is_on(self, key: str, attributes: Mapping[str, Any]) -> bool:
        return self.compiled.evaluate(key, attributes).on


def connection_summary(conn: SdkConnection, environment_key: str) -> dict[str, Any]:
    return {
        "id": conn.id,
        "name": conn.name,
        "key_prefix": conn.key_prefix,
        "environment": environment_key,
        "project": conn.project,
        "created_at": conn.created_at.isoformat(),
        "revoked_at": conn.revoked_at.isoformat() if conn.revoked_at else None,
    }
