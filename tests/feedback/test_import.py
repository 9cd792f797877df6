"""Importers: every channel's real or schema-true payload, idempotent re-imports, and broken
files that get a clear error and leave stored data untouched."""

from __future__ import annotations

import codecs

import pytest
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace
from productops.customers import Person
from productops.feedback.importers import InputFile
from productops.feedback.items import service
from productops.feedback.models import FeedbackItem
from productops.feedback.schemas import FeedbackCreate
from tests.feedback.support import add_customers, count, do_import, file, samples, snapshot

ZENDESK = [
    "zendesk/zendesk_incremental_tickets_cursor.json",
    "zendesk/zendesk_ticket_comments_cursor.json",
]
GONG = ["gong/gong_calls.json", "gong/gong_calls_extensive.json", "gong/gong_calls_transcript.json"]
CASES = {
    "zendesk": (
        ZENDESK,
        2,
        {"deleted tickets": 1},
    ),
    "intercom": (
        ["intercom/intercom_openapi_2.14_conversation_with_parts.json"],
        0,
        {"conversations with no message from the customer": 1},
    ),
    "delighted": (
        ["delighted/delighted_survey_responses.json"],
        2,
        {"answers with a score and no comment": 1},
    ),
    "typeform": (["typeform/typeform_responses.json"], 2, {}),
    "googleplay": (
        ["googleplay/reviews_com.example.feedbackapp_202405.csv"],
        3,
        {"star ratings without text": 1},
    ),
    "appstore": (["appstore/appstore_customer_reviews.json"], 2, {}),
    "gong": (
        GONG,
        1,
        {"calls without a transcript": 1},
    ),
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_every_channels_sample_imports_and_importing_again_changes_nothing(
    workspace: Workspace, source: str
) -> None:
    paths, expected, skipped = CASES[source]
    files = [samples() / p for p in paths]
    first = do_import(workspace, source, list(files))
    assert (first.created, first.skipped) == (expected, skipped)
    before = snapshot(workspace)
    again = do_import(workspace, source, list(files))
    assert (again.created, again.updated, again.unchanged) == (0, 0, expected)
    assert snapshot(workspace) == before


def test_a_zendesk_ticket_keeps_the_customers_words_and_leaves_agents_out(
    workspace: Workspace,
) -> None:
    do_import(workspace, "zendesk", [samples() / p for p in ZENDESK])
    with workspace.sessions() as s:
        ticket = s.scalar(select(FeedbackItem).where(FeedbackItem.external_id == "4101"))
        assert ticket is not None
        assert "accent" in ticket.text
        assert "Internal: reproduced" not in ticket.text  # a private agent note
        assert ticket.author_email == "dana.ortiz@example.org"
        assert [c["author"] for c in ticket.extra["thread"]] == ["customer", "agent", "agent"]
        person = s.get(Person, ticket.person_id)
        assert person is not None and person.traits["provisional"] is True


def test_a_google_play_csv_in_utf16_keeps_quotes_and_newlines(workspace: Workspace) -> None:
    do_import(
        workspace,
        "googleplay",
        [samples() / "googleplay/reviews_com.example.feedbackapp_202405.csv"],
    )
    with workspace.sessions() as s:
        texts = {i.external_id: i.text for i in s.scalars(select(FeedbackItem))}
    assert (
        texts["gp:AOqpTOExample0004"]
        == 'Export button says "done", but the file is empty, every time.'
    )
    assert "\n" in texts["gp:AOqpTOExample0001"]


def test_intercoms_old_conversation_shape_is_refused_with_the_reason(workspace: Workspace) -> None:
    with pytest.raises(InvalidInput, match=r"pre-2\.0"):
        do_import(
            workspace, "intercom", [samples() / "intercom/intercomgo_conversation_legacy_v1.json"]
        )


def test_a_gong_transcript_without_its_call_is_an_error(workspace: Workspace) -> None:
    with pytest.raises(InvalidInput, match=r"gong_calls_transcript.json: row 1, field 'callId'"):
        do_import(workspace, "gong", [samples() / "gong/gong_calls_transcript.json"])


def _survey(rows: list[str]) -> InputFile:
    return file("nps.csv", "id,score,comment,respondent,created_at\n" + "\n".join(rows) + "\n")


def test_a_generic_nps_csv_links_people_and_accounts(workspace: Workspace) -> None:
    ids = add_customers(workspace)
    result = do_import(
        workspace,
        "survey",
        [
            _survey(
                [
                    "r1,2,The report export keeps failing,dana@acme.example,2026-10-01",
                    "r2,9,Great support,someone@acme.example,2026-10-02",
                    "r3,7,Okay I guess,user_tom,2026-10-03",
                    "r4,10,,nobody@nowhere.example,2026-10-04",
                ]
            )
        ],
    )
    assert (result.created, result.skipped) == (3, {"answers with a score and no comment": 1})
    with workspace.sessions() as s:
        items = {i.external_id: i for i in s.scalars(select(FeedbackItem))}
    assert (items["r1"].person_id, items["r1"].account_id) == (ids["dana"], ids["acme"])
    assert items["r2"].account_id == ids["acme"]  # by the email's domain
    assert items["r2"].person_id not in (None, ids["dana"])  # a new person, in Acme
    assert (items["r3"].person_id, items["r3"].account_id) == (ids["tom"], ids["tiny"])
    assert result.people_created == 1


def test_a_person_created_from_feedback_is_merged_when_the_real_record_arrives(
    workspace: Workspace,
) -> None:
    from productops.customers import import_people

    do_import(
        workspace, "survey", [_survey(["r1,3,Slow dashboards,new.person@acme.example,2026-10-01"])]
    )
    with workspace.sessions() as s:
        item = s.scalar(select(FeedbackItem))
        assert item is not None
        provisional = item.person_id
    with transaction(workspace.sessions) as s:
        import_people(
            s, b"external_id,email,name\nuser_new,New.Person@acme.example,New Person\n", "test"
        )
    # The next import (or `feedback relink`) folds the provisional person into the record.
    do_import(
        workspace, "survey", [_survey(["r2,4,Still slow,new.person@acme.example,2026-10-09"])]
    )
    with workspace.sessions() as s:
        real = s.scalar(select(Person).where(Person.external_id == "user_new"))
        assert real is not None
        assert {i.person_id for i in s.scalars(select(FeedbackItem))} == {real.id}
        assert s.get(Person, provisional) is None


LATIN1 = (
    "id,score,comment,respondent,created_at\nr9,1,Caf\xe9 broken,x@y.example,2026-01-01\n".encode(
        "latin-1"
    )
)
HUGE = [{"id": "1", "score": 3, "comment": "x" * (50 * 2**20), "created_at": 1714990000}]
BROKEN = {
    "a CSV that is not UTF-8": (
        "survey",
        file("nps.csv", LATIN1),
        r"nps.csv: line 2 is not UTF-8",
    ),
    "truncated JSON": (
        "delighted",
        file("responses.json", '[{"id": "1", "score": 3, "comment": "Slo'),
        r"responses.json: the JSON ends too early \(is the file truncated\?\) at line 1",
    ),
    "a missing column": (
        "survey",
        file("nps.csv", "id,comment,respondent\nr1,hello,a@b.example\n"),
        r"nps.csv: row 1, field 'score': no score column",
    ),
    "a 50 MB field": (
        "delighted",
        file("big.json", HUGE),
        r"big.json: row 1, field 'comment': is 52,428,800 characters; the limit is 200,000",
    ),
    "a bad date": (
        "survey",
        _survey(["r1,3,Fine,a@b.example,31/02/2025"]),
        r"nps.csv: row 2, field 'created_at': '31/02/2025' is not a date or time",
    ),
    "a score out of range": (
        "survey",
        _survey(["r1,11,Fine,a@b.example,2026-01-01"]),
        r"nps.csv: row 2, field 'score': 11 is outside 0 to 10",
    ),
    "UTF-16 without a byte-order mark's promise": (
        "googleplay",
        file("reviews.csv", codecs.BOM_UTF16_LE + "Package Name\n".encode("utf-16-le")[:-1]),
        r"reviews.csv: the file says UTF-16",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_gets_a_clear_error_and_leaves_stored_data_untouched(
    workspace: Workspace, case: str
) -> None:
    do_import(workspace, "survey", [_survey(["ok1,9,Lovely,a@b.example,2026-01-01"])])
    before = snapshot(workspace)
    source, bad, message = BROKEN[case]
    good_first = _survey(["ok2,8,Also good,c@d.example,2026-01-02"])
    with pytest.raises(InvalidInput, match=message):
        # A good file in the same import is not stored either: all or nothing.
        do_import(workspace, source, [good_first, bad] if source == "survey" else [bad])
    assert snapshot(workspace) == before


def test_a_column_mapping_imports_any_csv_and_json(workspace: Workspace) -> None:
    csv_file = file(
        "export.csv",
        "Ticket,When,Who,What,Stars\nT-1,2026-09-01,dana@acme.example,Dark mode please,4\n"
        "T-2,2026-09-02,,Search is slow,2\n",
    )
    mapping = {
        "external_id": "Ticket",
        "created_at": "When",
        "email": "Who",
        "text": "What",
        "score": "Stars",
        "score_kind_value": "stars",
    }
    r = do_import(workspace, "csv", [csv_file], mapping=mapping)
    assert r.created == 2
    json_file = file(
        "export.json",
        {"data": {"rows": [{"id": 7, "body": {"text": "Love it"}, "at": 1717000000}]}},
    )
    json_mapping = {"external_id": "id", "text": "body.text", "created_at": "at"}
    r = do_import(workspace, "json", [json_file], mapping=json_mapping, records_path="data.rows")
    assert r.created == 1
    with pytest.raises(InvalidInput, match="no column 'Missing'"):
        do_import(workspace, "csv", [csv_file], mapping={"text": "Missing"})
    with pytest.raises(InvalidInput, match="the mapping needs 'text'"):
        do_import(workspace, "csv", [csv_file], mapping={"email": "Who"})
    assert count(workspace) == 3


def test_feedback_sent_through_the_api_is_idempotent(workspace: Workspace) -> None:
    payload = FeedbackCreate(external_id="msg-1", text="Please add SSO", email="dana@x.example")
    with transaction(workspace.sessions) as s:
        first, _ = service.create_feedback(s, [payload], "test")
    with transaction(workspace.sessions) as s:
        again, _ = service.create_feedback(s, [payload], "test")
    with transaction(workspace.sessions) as s:
        changed, _ = service.create_feedback(
            s, [payload.model_copy(update={"text": "Please add SAML SSO"})], "test"
        )
    assert (first.created, again.unchanged, changed.updated) == (1, 1, 1)
    assert count(workspace) == 1
