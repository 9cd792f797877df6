"""Saved cohorts: groups of people defined by what they did (or did not do), by their traits,
or by an uploaded list; usable as a filter and as a breakdown of every analysis."""
