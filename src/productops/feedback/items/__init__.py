"""Items: storing what importers read (idempotent on source and external id), linking each
to a person and an account of the customers pillar, listing, filtering and triage."""
