"""Research: a repository of studies, sessions, notes and transcripts, highlights on exact
spans and the insights they back, searchable beside customer feedback; and the participant
database (a participant is a customers person with research data and consent) with the
governance rules that keep anyone from being over-contacted.

This is the pillar's public Python API; other pillars use only what `__all__` names. Inside,
the pillar is cut into rooms: `repository/` (studies, sessions, notes, highlights, insights),
`transcripts/` (text, WebVTT, SubRip and Word readers), `participants/` (people, consent,
contact history, incentives, governance), `recruiting/` (screeners, eligibility,
invitations), `search/` (one search over research and feedback), `privacy/` (pseudonyms,
encrypted contact details, erasing a person, the access export) and `routes/` (the web).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from productops.core.lazy import lazy_exports

if TYPE_CHECKING:
    pass

_NAMES: dict[str, str] = {}
__all__: list[str] = []
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)
