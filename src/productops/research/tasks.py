"""Job kinds of the research pillar: the sentence vectors of the search index, and sending
invitations by email."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from productops.core.jobs import JobContext, job_handler
from productops.research.permissions import RESEARCH_WRITE
from productops.research.search.index import EMBED_KIND


class EmbedParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@job_handler(
    EMBED_KIND,
    "Compute sentence vectors of research",
    params=EmbedParams,
    permission=RESEARCH_WRITE,
)
def embed_research(ctx: JobContext) -> dict[str, Any]:
    from productops.research.search.index import embed_pending

    done = embed_pending(ctx.workspace, lambda d, t, m: ctx.progress(d, t, m))
    return {"vectors": done}
