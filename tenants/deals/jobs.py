"""Background work caused by deals.

``deal_stage_changed`` is written to the tenant's outbox by ``services.move_deal`` in the same
transaction as the move (event key ``deal.stage_changed:<change id>``), so every stage change is
delivered at least once after its commit. For now it does nothing: it is the hook the webhooks
and workflows features will consume (they will look the change up by ``change_id`` and fan out).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.jobs.registry import job
from rapport.platform.tenancy.models import TenantRef


@job("workflows")
def deal_stage_changed(session: Session, tenant: TenantRef, change_id: str, **_: Any) -> None:
    """Announce a deal's stage change to its consumers (none yet; safe to run twice)."""
