"""Workflows: an admin's "when this happens to a record, and these conditions hold, do that"."""
