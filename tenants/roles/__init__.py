"""Roles and permissions: what each member (or API key) may do with each record type."""
