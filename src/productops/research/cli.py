"""`productops research …`: the repository, the participant database and recruiting from the
command line; and `productops people delete|export` (also `productops research people …`):
erasing a person everywhere, or exporting everything held on them. Each command is the
service function of the same name; beside a running server, erasing goes through it (the
server owns the event store)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from productops.cli.kit import (
    JsonOpt,
    WorkspaceDir,
    emit_json,
    errors_as_exit,
    fail,
    open_ws,
    print_table,
    server_for,
)

app = typer.Typer(help="Research repository, participants and recruiting.", no_args_is_help=True)
people_app = typer.Typer(
    help="Privacy requests on one person: erase, export.", no_args_is_help=True
)
app.add_typer(people_app, name="people")
ALIASES = ("people",)

Who = Annotated[str, typer.Argument(help="The person: their id, external id or email address.")]


@app.command("studies")
def studies(
    directory: WorkspaceDir,
    q: Annotated[str | None, typer.Option(help="Words of the title.")] = None,
    status: Annotated[str | None, typer.Option(help="planned, recruiting, running, …")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Studies, newest first, with their sessions, notes, highlights and insights."""
    from productops.research.repository import service as repo

    with open_ws(directory) as ws, ws.sessions() as s:
        rows, _ = repo.list_studies(s, q=q, status=status, limit=None)
        counts = repo.study_counts(s, [r.id for r in rows])
        out = [
            {"id": r.id, "title": r.title, "method": r.method, "status": r.status,
             **vars(counts[r.id])}
            for r in rows
        ]  # fmt: skip
    if as_json:
        emit_json(out)
        return
    print_table(
        ["id", "title", "method", "status", "sessions", "notes", "highlights", "insights"],
        [list(r.values()) for r in out],
    )


@app.command("import-transcript")
def import_transcript(
    directory: WorkspaceDir,
    study: Annotated[int, typer.Argument(help="The study's id.")],
    file: Annotated[Path, typer.Argument(help="A .txt, .md, .vtt, .srt or .docx file.")],
    title: Annotated[
        str | None, typer.Option(help="The note's title (default: the file name).")
    ] = None,
    session: Annotated[int | None, typer.Option(help="The session it records.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a transcript or notes file as a note of a study."""
    from productops.core.db import transaction
    from productops.research.repository import service as repo
    from productops.research.settings import section
    from productops.research.transcripts import read_transcript

    with open_ws(directory) as ws:
        limits = section(ws)
        try:
            data = file.read_bytes()
        except OSError as exc:
            fail(f"{file}: {exc.strerror}")
        transcript = read_transcript(
            file.name, data, max_bytes=limits.max_transcript_bytes,
            max_unpacked=limits.max_docx_unpacked_bytes,
        )  # fmt: skip
        with transaction(ws.sessions) as s:
            note = repo.import_transcript(
                s, study, transcript, title=title or file.name, actor="cli", session_id=session,
                source_name=file.name,
            )  # fmt: skip
            out = {"note": note.id, "turns": len(transcript.turns), "speakers": transcript.speakers}
    if as_json:
        emit_json(out)
    else:
        typer.echo(
            f"Imported {file.name} as note {out['note']}: {out['turns']} turns, speakers "
            + ", ".join(out["speakers"] or ["none"])  # type: ignore[arg-type]
        )


@app.command("search")
def search(
    directory: WorkspaceDir,
    words: Annotated[str, typer.Argument(help="What do we already know about…")],
    study: Annotated[int | None, typer.Option(help="Only this study.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only participants of this segment.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One search over research and feedback: insights, highlights, notes, then feedback."""
    from productops.research.search.service import Filters, what_we_know

    with open_ws(directory) as ws:
        a = what_we_know(ws, words, Filters(study_id=study, segment=segment))
    rows = [
        *[("insight", f.ref_id, f.text) for f in a.insights],
        *[("highlight", f.ref_id, f.text) for f in a.highlights],
        *[("note", f.ref_id, f.text) for f in a.notes],
        *[("feedback", h.item.id, h.item.text) for h in a.feedback],
    ]
    if as_json:
        emit_json([{"kind": k, "id": i, "text": t} for k, i, t in rows])
        return
    print_table(["kind", "id", "text"], [(k, i, " ".join(t.split())[:100]) for k, i, t in rows])
    typer.echo(f"{a.took_ms:.0f} ms", err=True)


@app.command("participants")
def participants(
    directory: WorkspaceDir,
    status: Annotated[str | None, typer.Option(help="free, in_cooldown, do_not_contact, …")] = None,
    segment: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Participants with whether they may be contacted now (the command line sees names,
    as an admin does)."""
    from productops.research.participants import service
    from productops.research.participants.rules import Rules
    from productops.research.pseudonyms.vault import Vault

    with open_ws(directory) as ws, ws.sessions() as s:
        rows, total = service.list_participants(
            s, Rules.of(ws), status=status, segment=segment, vault=Vault(ws), limit=None
        )
        out = [
            {"id": r.id, "pseudonym": r.pseudonym, "name": r.name, "email": r.email,
             "segment": r.segment, "status": r.state.status, "why": r.state.reason,
             "consent": r.consent}
            for r in rows
        ]  # fmt: skip
    if as_json:
        emit_json(out)
        return
    print_table(list(out[0]) if out else ["id"], [list(r.values()) for r in out[:200]])
    typer.echo(f"{min(200, total)} of {total:,} participants", err=True)


@app.command("import-participants")
def import_participants(
    directory: WorkspaceDir,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: email, name, phone, segment, account_external_id, external_id, status."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Add or update participants from a CSV (all or nothing; again changes nothing)."""
    from productops.core.db import transaction
    from productops.research.participants import service
    from productops.research.pseudonyms.vault import Vault

    with open_ws(directory) as ws, errors_as_exit(), transaction(ws.sessions) as s:
        result = service.import_participants(s, Vault(ws), file, "cli")
    if as_json:
        emit_json(result)
    else:
        typer.echo(
            f"Imported {file.name}: {result['rows']:,} rows, {result['created']:,} new, "
            f"{result['updated']:,} changed, {result['unchanged']:,} already up to date"
        )


@app.command("eligibility")
def eligibility(
    directory: WorkspaceDir,
    segment: Annotated[list[str] | None, typer.Option(help="Segments (repeat).")] = None,
    plan: Annotated[list[str] | None, typer.Option(help="Plans (repeat).")] = None,
    used_event: Annotated[str | None, typer.Option(help="Did this event…")] = None,
    at_least: Annotated[int, typer.Option(help="…at least this often…", min=1)] = 1,
    within_days: Annotated[int, typer.Option(help="…within this many days.", min=1)] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Who is eligible for a screener, and why the others are not."""
    from productops.research.participants.rules import Rules
    from productops.research.recruiting import service
    from productops.research.schemas import Screener

    criteria = Screener(
        segments=segment or [], plans=plan or [], used_event=used_event,
        used_at_least=at_least, used_within_days=within_days,
    )  # fmt: skip
    with open_ws(directory) as ws, ws.sessions() as s:
        result = service.eligibility(ws, s, criteria, Rules.of(ws))
    if as_json:
        emit_json({"counts": result.counts, "eligible": [c.pseudonym for c in result.eligible]})
        return
    why: dict[str, int] = {}
    for c in result.candidates:
        for r in c.reasons:
            key = r.split(" (")[0].split(" until ")[0]
            why[key] = why.get(key, 0) + 1
    typer.echo(
        f"{result.counts['eligible']:,} of {result.counts['participants']:,} eligible "
        f"({result.took_ms:.0f} ms)"
    )
    print_table(["why not", "participants"], sorted(why.items(), key=lambda kv: -kv[1])[:15])


@people_app.command("delete")
def delete(
    directory: WorkspaceDir,
    who: Who,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase a person everywhere in one audited operation: participants, notes' speaker
    labels, feedback, events and quarantined events, search indexes. Backups taken
    afterwards hold nothing of them. It cannot be undone."""
    from productops.research.privacy.erase import erase_person, find_person
    from productops.research.pseudonyms.vault import Vault

    with open_ws(directory) as ws:
        with ws.sessions() as s:
            person_id = find_person(s, Vault(ws), who)
        if not yes and not typer.confirm(
            f"Erase person {person_id} everywhere? This cannot be undone"
        ):
            fail("nothing erased")
        server = server_for(ws)
        if server is not None:
            report = server.call("DELETE", f"/api/v1/people/{person_id}").json()
        else:
            report = erase_person(ws, person_id, "cli")
    if as_json:
        emit_json(report)
        return
    e, f, r = report["events"], report["feedback"], report["research"]
    typer.echo(
        f"Erased person {person_id}: {e['events']:,} events and {e['quarantined']:,} "
        f"quarantined events, {f['feedback_deleted']:,} feedback items (named in "
        f"{f['feedback_scrubbed']:,} more), {r['notes_rewritten']:,} notes rewritten"
        f"{', their participant record' if r['participant'] else ''}."
    )


@people_app.command("export")
def export(
    directory: WorkspaceDir,
    who: Who,
    out: Annotated[
        Path | None, typer.Option(help="Write the JSON here (default: print it).")
    ] = None,
) -> None:
    """Everything held on one person, as JSON (a GDPR access request; audited)."""
    from productops.research.privacy.erase import find_person
    from productops.research.privacy.export import access_export
    from productops.research.pseudonyms.vault import Vault

    with open_ws(directory) as ws:
        with ws.sessions() as s:
            person_id = find_person(s, Vault(ws), who)
        server = server_for(ws)
        if server is not None:
            data = server.call("GET", f"/api/v1/people/{person_id}/export").json()
        else:
            data = access_export(ws, person_id, "cli")
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    if out is None:
        typer.echo(text)
        return
    from productops.core.workspace import write_private

    write_private(out, text)
    typer.echo(f"Wrote {out}")
