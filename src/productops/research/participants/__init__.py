"""Participants: customers people with research data: contact details (encrypted), consent
to a versioned text, contact history, incentives, and the governance rules on contacting
them."""
