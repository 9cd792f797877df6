"""Recruiting: a screener builds a list from the participant database, says who is eligible
and why the others are not, and invitations go out (exported or by email) through the
governance rules."""
