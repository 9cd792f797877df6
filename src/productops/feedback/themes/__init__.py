"""Themes: discovery (clusters of feedback labelled with key phrases), emerging and growing
themes week over week, the inbox of items no theme claims, curated tags and auto-tagging.

`discover(texts)` is the discovery the themes job runs, as a plain function:

    from productops.feedback.themes import discover
    discover(["The app crashes on login", ...])  # -> [0, 0, None, 3, ...]
"""

from __future__ import annotations

from productops.feedback.themes.discovery import Clustering, cluster, discover

__all__ = ["Clustering", "cluster", "discover"]
