"""The customers every pillar talks about: accounts (companies, with revenue) and the people
in them. Feedback, analytics and research all link here."""
