"""Leads: prospects not yet qualified, their capture, assignment and conversion."""
