"""The repository: studies, sessions, notes and transcripts, highlights on exact spans,
tags from the shared taxonomy, insights and their evidence on feature requests."""
