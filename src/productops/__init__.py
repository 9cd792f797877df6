"""productops."""
