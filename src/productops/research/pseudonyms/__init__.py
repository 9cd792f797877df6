"""Who is who, kept apart: pseudonyms, contact details sealed at rest (the vault), and
masking participants' names in research text for everyone without `people.pii`."""
