"""Picklists: every list a user picks from (lead statuses and sources, activity types, loss
reasons, industries), shaped by the tenant's admins.

``seed(session)`` gives a tenant the default options; ``validate(session, list_key, value)`` is
the one check every write path of a picked value goes through.
"""

from __future__ import annotations

from rapport.tenants.picklists.services import seed, validate

__all__ = ["seed", "validate"]
