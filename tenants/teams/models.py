"""Tables of teams (in each tenant's schema): teams, their members and their territories."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin


class Team(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # The round-robin cursor: the member who got the team's last lead. The next lead goes to the
    # member after them (by user id, wrapping), so adding or removing members never skips anyone
    # twice. Taken under a row lock (SELECT ... FOR UPDATE) by the assignment service.
    last_assigned_user_id: Mapped[uuid.UUID | None]


class TeamMember(IdMixin, TenantBase):
    """A workspace member in a team (user ids are control-plane ids: no cross-plane key)."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    is_manager: Mapped[bool] = mapped_column(default=False)


class Territory(IdMixin, TimestampMixin, TenantBase):
    """A routing rule: leads (and companies) matching it belong to its team.

    Each list that is not empty must match (a country among ``countries`` AND a region among
    ``regions`` ...); an empty list matches anything. The highest ``priority`` wins.
    """

    __tablename__ = "territories"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[int] = mapped_column(default=0)
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    industries: Mapped[list[str]] = mapped_column(JSON, default=list)

    @property
    def rules(self) -> dict[str, Any]:
        return {
            "countries": list(self.countries or ()),
            "regions": list(self.regions or ()),
            "industries": list(self.industries or ()),
        }
