"""Everything that lives inside one tenant's schema, one folder per feature."""
