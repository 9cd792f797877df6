"""Shared foundations: settings, database, auth, jobs, audit log, outbound HTTP."""
