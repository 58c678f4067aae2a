"""Stack classes and the platform config schema."""
