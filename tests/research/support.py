"""A small research world for the tests: an account, people, participants, a study with a
session and a transcript note, highlights and an insight."""

from __future__ import annotations

from dataclasses import dataclass

from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.customers import Account, Person
from productops.research.participants import service as participants
from productops.research.participants.rules import Rules
from productops.research.pseudonyms.vault import Vault
from productops.research.repository import service as repo
from productops.research.schemas import (
    NoteCreate,
    ParticipantCreate,
    SessionCreate,
    SpeakerLink,
    StudyCreate,
)
from productops.research.transcripts import read_transcript

ZELDA = "Zelda Quartermain"
ZELDA_EMAIL = "zelda.q@acme.example"
ZELDA_ID = "u_zelda_77"
TRANSCRIPT = f"""Interviewer: Thanks for joining. How do you export reports today?
{ZELDA}: Honestly the export to PDF is broken for us, I email {ZELDA_EMAIL} copies by hand.
Interviewer: What would good look like?
{ZELDA}: A scheduled export every Monday, Zelda would love that, and so would my team.
"""


@dataclass
class World:
    ws: Workspace
    vault: Vault
    study_id: int
    session_id: int
    note_id: int
    zelda: int  # participant id
    zelda_person: int
    other: int  # another participant
    rules: Rules


def world(ws: Workspace) -> World:
    vault = Vault(ws)
    with transaction(ws.sessions) as s:
        acme = Account(
            external_id="acct_acme", name="Acme", domain="acme.example", plan="enterprise",
            segment="Enterprise", region="NA", arr=240_000,
        )  # fmt: skip
        s.add(acme)
        s.flush()
        zp = Person(external_id=ZELDA_ID, account_id=acme.id, email=ZELDA_EMAIL, name=ZELDA)
        op = Person(
            external_id="u_otto", account_id=acme.id, email="otto@acme.example", name="Otto Brandt"
        )
        s.add_all([zp, op])
        s.flush()
        z = participants.create_participant(
            s, vault, ParticipantCreate(person_id=zp.id, phone="+44 20 7946 0011"), "test"
        )
        o = participants.create_participant(s, vault, ParticipantCreate(person_id=op.id), "test")
        study = repo.create_study(
            s, StudyCreate(title="Why exports fail", goal="Learn how teams share reports"), "test"
        )
        sess = repo.create_session(
            s, study.id, SessionCreate(title="Interview with Acme", participant_id=z.id), "test"
        )
        t = read_transcript("interview.txt", TRANSCRIPT.encode())
        note = repo.import_transcript(
            s, study.id, t, title="Interview 1", actor="test", session_id=sess.id,
            source_name="interview.txt",
        )  # fmt: skip
        repo.link_speaker(s, note.id, SpeakerLink(label=ZELDA, participant_id=z.id), "test")
        return World(ws, vault, study.id, sess.id, note.id, z.id, zp.id, o.id, Rules())


def highlight_words(ws: Workspace, note_id: int, words: str) -> int:
    with transaction(ws.sessions) as s:
        note = repo.get_note(s, note_id)
        at = note.body.index(words)
        return repo.create_highlight(s, note_id, at, at + len(words), "test").id


def note_create(title: str, body: str, session_id: int | None = None) -> NoteCreate:
    return NoteCreate(title=title, body=body, session_id=session_id)
