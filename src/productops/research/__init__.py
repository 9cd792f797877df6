"""Research: a repository of studies, sessions, notes and transcripts, highlights on exact
spans and the insights they back, searchable beside customer feedback; and the participant
database (a participant is a customers person with research data and consent) with the
governance rules that keep anyone from being over-contacted.

This is the pillar's public Python API; other pillars use only what `__all__` names. Inside,
the pillar is cut into rooms: `repository/` (studies, sessions, notes, highlights, insights),
`transcripts/` (text, WebVTT, SubRip and Word readers), `participants/` (people, consent,
contact history, incentives, governance), `recruiting/` (screeners, eligibility,
invitations), `search/` (one search over research and feedback), `pseudonyms/` (pseudonyms,
encrypted contact details, masking), `privacy/` (erasing a person, the access export) and
`routes/` (the web).

    from productops import research

    with transaction(ws.sessions) as s:
        study = research.create_study(s, StudyCreate(title="Why exports fail"), "me")
    answer = research.what_we_know(ws, "exporting reports")  # insights first, then feedback
    research.erase_person(ws, "someone@example.com", "me")  # everywhere, audited
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    from productops.research.participants.rules import Rules
    from productops.research.participants.service import (
        add_consent_text,
        create_participant,
        import_feedback_people,
        import_participants,
        list_participants,
        pay_incentive,
        record_consent,
        record_contact,
        set_status,
    )
    from productops.research.privacy.erase import erase_person
    from productops.research.privacy.export import access_export
    from productops.research.pseudonyms.vault import Vault
    from productops.research.recruiting.service import eligibility, invite
    from productops.research.repository.service import (
        attach_to_request,
        create_highlight,
        create_insight,
        create_note,
        create_session,
        create_study,
        import_transcript,
        insights_for_request,
        list_insights,
        list_studies,
        tag_highlight,
    )
    from productops.research.search.service import Filters, what_we_know
    from productops.research.transcripts import read_transcript

_NAMES = {
    "Filters": ".search.service",
    "Rules": ".participants.rules",
    "Vault": ".pseudonyms.vault",
    "access_export": ".privacy.export",
    "add_consent_text": ".participants.service",
    "attach_to_request": ".repository.service",
    "create_highlight": ".repository.service",
    "create_insight": ".repository.service",
    "create_note": ".repository.service",
    "create_participant": ".participants.service",
    "create_session": ".repository.service",
    "create_study": ".repository.service",
    "eligibility": ".recruiting.service",
    "erase_person": ".privacy.erase",
    "import_feedback_people": ".participants.service",
    "import_participants": ".participants.service",
    "import_transcript": ".repository.service",
    "insights_for_request": ".repository.service",
    "invite": ".recruiting.service",
    "list_insights": ".repository.service",
    "list_participants": ".participants.service",
    "list_studies": ".repository.service",
    "pay_incentive": ".participants.service",
    "read_transcript": ".transcripts",
    "record_consent": ".participants.service",
    "record_contact": ".participants.service",
    "set_status": ".participants.service",
    "tag_highlight": ".repository.service",
    "what_we_know": ".search.service",
}
__all__ = [
    "Filters",
    "Rules",
    "Vault",
    "access_export",
    "add_consent_text",
    "attach_to_request",
    "create_highlight",
    "create_insight",
    "create_note",
    "create_participant",
    "create_session",
    "create_study",
    "eligibility",
    "erase_person",
    "import_feedback_people",
    "import_participants",
    "import_transcript",
    "insights_for_request",
    "invite",
    "list_insights",
    "list_participants",
    "list_studies",
    "pay_incentive",
    "read_transcript",
    "record_consent",
    "record_contact",
    "set_status",
    "tag_highlight",
    "what_we_know",
]
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
