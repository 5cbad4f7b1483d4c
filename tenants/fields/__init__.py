"""Custom fields: per-tenant definitions, one validator for every write path, their indexes.

Not in this increment: formula and roll-up fields, record lookups, type changes between different
storage (only identical storage), a live form preview, and custom fields on leads and activities.
"""
