"""The audit log: who changed what. Every domain records through `record`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productops.core.models import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add an audit entry inside the caller's transaction, so it lands with the change or not
    at all."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        detail=detail or {},
        ip=ip,
    )
    session.add(event)
    session.flush()
    return event


def list_events(
    session: Session,
    *,
    limit: int = 100,
    offset: int = 0,
    entity_type: str | None = None,
    actor: str | None = None,
) -> tuple[list[AuditEvent], int]:
    """Newest first, with the total for paging."""
    q = select(AuditEvent)
    if entity_type:
        q = q.where(AuditEvent.entity_type == entity_type)
    if actor:
        q = q.where(AuditEvent.actor == actor)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
