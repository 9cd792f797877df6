"""Gong sales calls: the calls (`GET /v2/calls` or `POST /v2/calls/extensive`, whose
`parties` say who spoke) and their transcripts (`POST /v2/calls/transcript`), given as
several files in any order.

The item's text is what the customer's side said (speakers whose party is not `Internal`);
the person is the first external party with an email. A call without a transcript is left
out and counted; a transcript without its call is an error (add the calls file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from productops.feedback.importers.base import (
    FeedbackImportError,
    InputFile,
    RawItem,
    ReadResult,
    email_field,
    ident,
    load_json,
    obj,
    records,
    text_field,
    timestamp,
)

SOURCE = "gong"
TITLE = "Gong calls and transcripts (JSON)"


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    calls: dict[str, tuple[str, int, dict[str, Any], list[dict[str, Any]]]] = {}
    transcripts: dict[str, tuple[str, int, list[Any]]] = {}
    for file in files:
        payload = load_json(file)
        if isinstance(payload, dict) and "callTranscripts" in payload:
            for row, raw in enumerate(records(payload, file.name, "callTranscripts"), 1):
                t = obj(raw, file.name, row, "transcript")
                call_id = ident(t.get("callId"), file.name, row, "callId")
                monologues = t.get("transcript")
                if not isinstance(monologues, list):
                    raise FeedbackImportError(
                        file.name, "is not a list", row=row, field="transcript"
                    )
                transcripts[call_id] = (file.name, row, monologues)
            continue
        for row, raw in enumerate(records(payload, file.name, "calls"), 1):
            c = obj(raw, file.name, row, "call")
            meta: dict[str, Any] = c["metaData"] if isinstance(c.get("metaData"), dict) else c
            call_id = ident(meta.get("id"), file.name, row, "id")
            parties = [p for p in c.get("parties") or [] if isinstance(p, dict)]
            known = calls.get(call_id)
            if known is None or (parties and not known[3]):
                calls[call_id] = (file.name, row, meta, parties)
    result = ReadResult()
    for call_id, (tfile, trow, _monologues) in transcripts.items():
        if call_id not in calls:
            raise FeedbackImportError(
                tfile,
                f"the transcript of call {call_id} has no call in the files given: add the "
                "calls (or calls/extensive) file",
                row=trow,
                field="callId",
            )
    for call_id, (cfile, row, meta, parties) in calls.items():
        if call_id not in transcripts:
            result.skip("calls without a transcript")
            continue
        tfile, trow, monologues = transcripts[call_id]
        internal = {str(p.get("speakerId")) for p in parties if p.get("affiliation") == "Internal"}
        said: list[str] = []
        lines: list[dict[str, Any]] = []
        for m_row, mono in enumerate(monologues, 1):
            m = obj(mono, tfile, f"{trow}.{m_row}", "monologue")
            speaker = str(m.get("speakerId"))
            words = " ".join(
                text_field(s.get("text"), tfile, f"{trow}.{m_row}", "sentences.text")
                for s in m.get("sentences") or []
                if isinstance(s, dict)
            ).strip()
            side = "internal" if speaker in internal else "customer"
            lines.append({"side": side, "topic": m.get("topic"), "text": words[:5000]})
            if side == "customer" and words:
                said.append(words)
        text = "\n\n".join(said)
        if not text:
            result.skip("calls in which the customer said nothing")
            continue
        external = [p for p in parties if p.get("affiliation") != "Internal"]
        contact = next((p for p in external if p.get("emailAddress")), {})
        result.items.append(
            RawItem(
                source=SOURCE,
                external_id=call_id,
                kind="call",
                title=text_field(meta.get("title"), cfile, row, "title")[:500] or None,
                body=text,
                created_at=timestamp(
                    meta.get("started") or meta.get("scheduled"), cfile, row, "started"
                ),
                url=meta.get("url") if str(meta.get("url", "")).startswith("https://") else None,
                author_email=email_field(contact.get("emailAddress"), cfile, row, "emailAddress"),
                author_name=contact.get("name") if isinstance(contact.get("name"), str) else None,
                extra={
                    "duration_seconds": meta.get("duration"),
                    "system": meta.get("system"),
                    "direction": meta.get("direction"),
                    "transcript": lines,
                },
                file=cfile,
                row=row,
            )
        )
    return result
