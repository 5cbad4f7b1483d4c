"""Saved list views per user: filters, sort and columns, and CSV export."""
