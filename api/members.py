"""The workspace's members over REST (read only): who records can be assigned to."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from rapport.api.auth import api_blueprint
from rapport.platform.identity.members import members_of, role_label
from rapport.platform.tenancy.scope import current_tenant

blp = api_blueprint(
    "api_members",
    __name__,
    url_prefix="/api/v1/members",
    description="The workspace's members (read only).",
)


class MemberSchema(ma.Schema):
    id = ma.fields.UUID(
        required=True,
        metadata={"description": "The member's user id (what owner_id and user fields hold)."},
    )
    name = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    role_label = ma.fields.String(required=True)
    joined_at = ma.fields.AwareDateTime(required=True)


class MemberListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MemberSchema), required=True)


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("Member", schema=MemberSchema)
    spec.components.schema("MemberList", schema=MemberListSchema)


@blp.route("")
@blp.response(200, MemberListSchema)
def members():  # type: ignore[no-untyped-def]
    """List the workspace's active members, by name"""
    return {
        "items": [
            {
                "id": user.id,
                "name": user.name,
                "email": user.email,
                "role": membership.role,
                "role_label": role_label(membership.role),
                "joined_at": membership.created_at,
            }
            for membership, user in members_of(current_tenant().id)
        ]
    }
