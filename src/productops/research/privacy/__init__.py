"""Privacy operations on one person: erasing them everywhere, and exporting everything
held on them (a GDPR access request)."""
