"""The participant database's pages: the list with eligibility, a participant's page
(status, consent, contact history, incentives), the recruiting flow and the consent texts.
Names and contact details are shown only with people.pii; everyone else sees pseudonyms."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BeforeValidator

from productops import analytics
from productops.core.auth import Principal
from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.research.models import CONTACT_KINDS, CONTACT_STATUSES
from productops.research.participants import service as participants
from productops.research.participants.rules import STATUS_LABELS
from productops.research.permissions import (
    PEOPLE_ERASE,
    RESEARCH_OVERRIDE,
    RESEARCH_RECRUIT,
    RESEARCH_WRITE,
)
from productops.research.privacy.erase import erase_person
from productops.research.recruiting import service as recruiting
from productops.research.repository import service as repo
from productops.research.routes.common import (
    PAGE_SIZE,
    SUBNAV,
    ConsentFilter,
    ParticipantStatusFilter,
    Text60,
    Text200,
    pii,
    rules_of,
    vault_of,
)
from productops.research.schemas import (
    ConsentRecord,
    ConsentTextCreate,
    ContactCreate,
    IncentiveCreate,
    ParticipantCreate,
    ScreenerCreate,
    StatusChange,
)
from productops.research.schemas import Screener as Criteria
from productops.web.deps import DbDep, ReadPage, is_fragment, reads_only, require, workspace_of
from productops.web.export import csv_response
from productops.web.params import blank_is_none
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
RecruitPage = Annotated[Principal, require(RESEARCH_RECRUIT, page=True)]
ErasePage = Annotated[Principal, require(PEOPLE_ERASE, page=True)]
FormId = Annotated[int | None, Form(), BeforeValidator(blank_is_none)]
Consent = Literal["current", "outdated", "withdrawn", "none"]


def _base(principal: Principal) -> dict[str, Any]:
    return {
        "subnav": SUBNAV,
        "can_write": principal.can(RESEARCH_WRITE),
        "can_recruit": principal.can(RESEARCH_RECRUIT),
        "can_override": principal.can(RESEARCH_OVERRIDE),
        "can_erase": principal.can(PEOPLE_ERASE),
        "show_pii": pii(principal),
        "labels": STATUS_LABELS,
    }


@pages.get("/research/participants")
def participants_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    status: ParticipantStatusFilter = None,
    segment: Text60 = None,
    plan: Text60 = None,
    consent: ConsentFilter = None,
    study: Annotated[int | None, Query(ge=1, le=2**31 - 1), BeforeValidator(blank_is_none)] = None,
    offset: Annotated[int, Query(ge=0, le=10**7)] = 0,
) -> Response:
    """Every participant with whether they may be contacted now, and why not."""
    rules = rules_of(request)
    vault = vault_of(request) if pii(principal) else None
    rows, total = participants.list_participants(
        db, rules, q=q, status=status, segment=segment, plan=plan, consent=consent, vault=vault,
        study_id=study, limit=PAGE_SIZE, offset=offset,
    )  # fmt: skip
    from productops import customers

    filters = {"q": q, "status": status, "segment": segment, "plan": plan, "consent": consent,
               "study": study}  # fmt: skip
    context = {
        **_base(principal),
        "rows": rows,
        "total": total,
        "f": {k: v or "" for k, v in filters.items()},
        "statuses": participants.LIST_STATUSES,
        "segments": participants.segments_in_use(db),
        "plans": customers.distinct_values(db, "plan"),
        "counts": participants.count_by_state(db, rules),
        "offset": offset,
        "limit": PAGE_SIZE,
        "query": urlencode({k: v for k, v in filters.items() if v}),
    }
    response = render(
        request,
        "research/participants_table.html"
        if is_fragment(request)
        else "research/participants.html",
        context,
    )
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


@pages.get("/research/participants.csv")
def participants_csv(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    status: ParticipantStatusFilter = None,
    segment: Text60 = None,
    plan: Text60 = None,
    consent: ConsentFilter = None,
) -> Response:
    """The filtered list as CSV; names and contact details only for people.pii."""
    show = pii(principal)
    rows, _ = participants.list_participants(
        db, rules_of(request), q=q, status=status, segment=segment, plan=plan, consent=consent,
        vault=vault_of(request) if show else None, limit=None,
    )  # fmt: skip
    columns = ["participant", "segment", "plan", "status", "why", "consent", "last_contacted_at",
               "sessions", "invitations_in_period"]  # fmt: skip
    if show:
        columns += ["name", "email", "phone", "account"]
    out = []
    for r in rows:
        row: list[Any] = [r.pseudonym, r.segment, r.plan, r.state.status, r.state.reason, r.consent,
                          r.last_contacted_at, r.sessions, r.invitations_in_period]  # fmt: skip
        if show:
            row += [r.name, r.email, r.phone, r.account]
        out.append(row)
    return csv_response(columns, out, "participants")


@pages.post("/research/participants")
def create_participant_form(
    request: Request,
    db: DbDep,
    principal: RecruitPage,
    name: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    segment: Annotated[str, Form(max_length=50)] = "",
    person_id: FormId = None,
) -> Response:
    p = participants.create_participant(
        db,
        vault_of(request),
        ParticipantCreate(
            name=name or None,
            email=email or None,
            phone=phone or None,
            segment=segment or None,
            person_id=person_id,
        ),
        principal.actor,
    )
    return RedirectResponse(f"/research/participants/{p.id}", status_code=303)


@pages.post("/research/participants/import")
async def import_participants_form(
    request: Request, principal: RecruitPage, file: UploadFile
) -> Response:
    limit = 20 * 1024 * 1024
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{file.filename or 'the file'} is over {limit:,} bytes")
    ws = workspace_of(request)
    with transaction(ws.sessions) as s:
        participants.import_participants(
            s,
            vault_of(request),
            data,
            principal.actor,
            name=(file.filename or "participants.csv")[:200],
        )
    return RedirectResponse("/research/participants", status_code=303)


@pages.post("/research/participants/import-feedback")
def import_feedback_people_form(
    request: Request,
    db: DbDep,
    principal: RecruitPage,
    since: Annotated[Any, Form(), BeforeValidator(blank_is_none)] = None,
) -> Response:
    participants.import_feedback_people(db, vault_of(request), principal.actor, since=since)
    return RedirectResponse("/research/participants?status=free", status_code=303)


@pages.get("/research/participants/{participant_id}")
def participant_page(
    request: Request, db: DbDep, principal: ReadPage, participant_id: int
) -> Response:
    rules = rules_of(request)
    show = pii(principal)
    row = participants.participant_row(
        db, participant_id, rules, vault_of(request) if show else None
    )
    studies, _ = repo.list_studies(db, limit=None)
    return render(
        request,
        "research/participant.html",
        {
            **_base(principal),
            "p": row,
            "contacts": participants.contacts_of(db, participant_id),
            "incentives": participants.incentives_of(db, participant_id),
            "consents": participants.consents_of(db, participant_id),
            "current_text": participants.current_consent_text(db),
            "highlights": repo.highlights_of(db, participant_id=participant_id, limit=50),
            "studies": studies,
            "study_names": {s.id: s.title for s in studies},
            "kinds": CONTACT_KINDS,
            "statuses": CONTACT_STATUSES,
        },
    )


@pages.post("/research/participants/{participant_id}/status")
def status_form(
    request: Request,
    db: DbDep,
    principal: RecruitPage,
    participant_id: int,
    status: Annotated[Literal["free", "do_not_contact", "blocklisted", "opted_out"], Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    participants.set_status(
        db, participant_id, StatusChange(status=status, reason=reason), principal.actor,
        can_override=principal.can(RESEARCH_OVERRIDE),
    )  # fmt: skip
    return RedirectResponse(f"/research/participants/{participant_id}", status_code=303)


@pages.post("/research/participants/{participant_id}/contacts")
def contact_form(
    request: Request,
    db: DbDep,
    principal: RecruitPage,
    participant_id: int,
    kind: Annotated[Literal["invited", "scheduled", "participated", "no_show"], Form()],
    study_id: FormId = None,
    override: Annotated[bool, Form()] = False,
) -> Response:
    participants.record_contact(
        db, participant_id, ContactCreate(kind=kind, study_id=study_id, override=override),
        principal.actor, rules_of(request), can_override=principal.can(RESEARCH_OVERRIDE),
    )  # fmt: skip
    return RedirectResponse(f"/research/participants/{participant_id}#history", status_code=303)


@pages.post("/research/participants/{participant_id}/consents")
def consent_form(
    db: DbDep,
    principal: RecruitPage,
    participant_id: int,
    action: Annotated[Literal["give", "withdraw"], Form()] = "give",
    method: Annotated[Literal["form", "verbal", "email", "import"], Form()] = "form",
) -> Response:
    participants.record_consent(
        db,
        participant_id,
        ConsentRecord(method=method, withdraw=action == "withdraw"),
        principal.actor,
    )
    return RedirectResponse(f"/research/participants/{participant_id}#consent", status_code=303)


@pages.post("/research/participants/{participant_id}/incentives")
def incentive_form(
    db: DbDep,
    principal: RecruitPage,
    participant_id: int,
    amount: Annotated[float, Form(gt=0, le=100_000)],
    currency: Annotated[str, Form(pattern=r"^[A-Z]{3}$")] = "USD",
    kind: Annotated[
        Literal["gift_card", "cash", "donation", "voucher", "other"], Form()
    ] = "gift_card",
    study_id: FormId = None,
) -> Response:
    data = IncentiveCreate(amount=amount, currency=currency, kind=kind, study_id=study_id)
    participants.pay_incentive(db, participant_id, data, principal.actor)
    return RedirectResponse(f"/research/participants/{participant_id}#incentives", status_code=303)


@pages.post("/research/participants/{participant_id}/erase")
@reads_only  # the erasure is a transaction of its own (and the event store's)
def erase_form(
    request: Request,
    principal: ErasePage,
    participant_id: int,
    confirm: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Erase the person behind a participant everywhere (admins; type ERASE to confirm)."""
    if confirm.strip() != "ERASE":
        raise InvalidInput("type ERASE to confirm: erasing cannot be undone")
    ws = workspace_of(request)
    with ws.sessions() as s:
        person_id = participants.get_participant(s, participant_id).person_id
    erase_person(ws, person_id, principal.actor)
    return RedirectResponse("/research/participants", status_code=303)


# --- recruiting ------------------------------------------------------------------------------


def _criteria(values: dict[str, Any]) -> Criteria:
    def ints(v: Any) -> int | None:
        return int(v) if v not in (None, "") else None

    def words(v: Any) -> list[str]:
        if isinstance(v, list):
            return [x for x in v if x][:50]
        return [x.strip() for x in str(v or "").split(",") if x.strip()][:50]

    try:
        return Criteria(
            segments=words(values.get("segments")),
            plans=words(values.get("plans")),
            used_event=(values.get("used_event") or None),
            used_at_least=ints(values.get("used_at_least")) or 1,
            used_within_days=ints(values.get("used_within_days")) or 30,
            gave_feedback_within_days=ints(values.get("gave_feedback_within_days")),
            not_contacted_days=ints(values.get("not_contacted_days")),
            exclude_study_id=ints(values.get("exclude_study_id")),
            require_consent=values.get("require_consent") in ("1", "on", "true", True),
        )
    except ValueError as exc:
        raise InvalidInput(f"the screener cannot be read: {str(exc)[:200]}") from None


@pages.get("/research/recruit")
def recruit_page(request: Request, db: DbDep, principal: ReadPage) -> Response:
    """Recruiting: a screener builds a list, shows who is eligible and why the others are
    not; invitations go out through the rules."""
    params = request.query_params
    values: dict[str, Any] = {k: params.get(k) for k in params}
    values["segments"] = params.getlist("segments")
    values["plans"] = params.getlist("plans")
    criteria = _criteria(values)
    study_id = params.get("study")
    result = None
    if params.get("run"):
        result = recruiting.eligibility(workspace_of(request), db, criteria, rules_of(request))
    from productops import customers

    studies, _ = repo.list_studies(db, limit=None)
    try:
        events = list(_event_names(request))
    except Exception:  # no event store yet: the screener has no usage filter to offer
        events = []
    show = request.query_params.get("show", "eligible")
    candidates = []
    if result is not None:
        candidates = [
            c for c in result.candidates if show == "all" or c.eligible == (show == "eligible")
        ][:500]
    return render(
        request,
        "research/recruit.html",
        {
            **_base(principal),
            "criteria": criteria,
            "result": result,
            "candidates": candidates,
            "show": show,
            "studies": studies,
            "study_id": int(study_id) if study_id and study_id.isdigit() else None,
            "segments": participants.segments_in_use(db),
            "plans": customers.distinct_values(db, "plan"),
            "events": events,
            "screeners": recruiting.screeners(db),
            "query": str(request.query_params),
        },
    )


def _event_names(request: Request) -> list[str]:
    with analytics.event_source(workspace_of(request)) as con:
        t = con.table("event_counts")
        names = t.select("event").distinct().order_by("event").limit(500).to_pyarrow()
    return [str(n) for n in names.column("event").to_pylist()]


@pages.post("/research/recruit/invite")
@reads_only  # each invitation is recorded in a transaction of its own, as it is sent
def invite_form(
    request: Request,
    principal: RecruitPage,
    study_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    participant_ids: Annotated[list[int], Form()],
    how: Annotated[Literal["export", "email"], Form()] = "export",
    override: Annotated[bool, Form()] = False,
    subject: Annotated[str, Form(max_length=200)] = "",
    message: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Invite the chosen participants: an export of whom to write to (CSV), or emails."""
    if len(participant_ids) > 5000:
        raise InvalidInput("invite at most 5,000 people at once")
    result = recruiting.invite(
        workspace_of(request), study_id, participant_ids, principal.actor, rules=rules_of(request),
        vault=vault_of(request), can_override=principal.can(RESEARCH_OVERRIDE), override=override,
        send_email=how == "email", subject=subject, message=message,
    )  # fmt: skip
    if how == "export" and result.export is not None:
        columns, rows = result.export
        skipped = [
            [f"participant {pid}", "", "", f"not invited: {why}"]
            for pid, why in result.skipped.items()
        ]
        return csv_response(columns, rows + skipped, f"invitations-study-{study_id}")
    return RedirectResponse(
        f"/research/studies/{study_id}?invited={len(result.invited)}", status_code=303
    )


@pages.post("/research/recruit/screeners")
def save_screener_form(
    request: Request,
    db: DbDep,
    principal: RecruitPage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    query: Annotated[str, Form(max_length=4000)] = "",
    study_id: FormId = None,
) -> Response:
    from urllib.parse import parse_qs

    values: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
    parsed = parse_qs(query)
    values["segments"] = parsed.get("segments", [])
    values["plans"] = parsed.get("plans", [])
    recruiting.save_screener(
        db,
        ScreenerCreate(name=name, study_id=study_id, criteria=_criteria(values)),
        principal.actor,
    )
    return RedirectResponse(f"/research/recruit?{query}", status_code=303)


# --- consent texts -------------------------------------------------------------------------


@pages.get("/research/consent")
def consent_page(request: Request, db: DbDep, principal: ReadPage) -> Response:
    rules = rules_of(request)
    rows, _ = participants.list_participants(db, rules, limit=None)
    outdated = sum(1 for r in rows if r.consent == "outdated")
    return render(
        request,
        "research/consent.html",
        {
            **_base(principal),
            "texts": participants.consent_texts(db),
            "outdated": outdated,
            "total": len(rows),
        },
    )


@pages.post("/research/consent")
def consent_text_form(
    db: DbDep,
    principal: RecruitPage,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    body: Annotated[str, Form(min_length=1, max_length=100_000)],
) -> Response:
    participants.add_consent_text(db, ConsentTextCreate(title=title, body=body), principal.actor)
    return RedirectResponse("/research/consent", status_code=303)
