"""Workspace members: invitations, roles, removal.

Memberships and invitations live in the control plane; the tenant's own audit chain records who
joined, changed role or left. A request commits the control plane first, then the tenant; a crash
in between loses an audit line, never a membership half made.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.db import db, utcnow
from rapport.platform.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rapport.platform.identity import emails, tokens
from rapport.platform.identity.models import ROLES, Invitation, Membership, User
from rapport.platform.identity.passwords import hash_password, password_problems
from rapport.platform.identity.services import find_user, mark_verified, membership, normalize_email
from rapport.platform.ids import new_id
from rapport.platform.tenancy.models import Tenant, TenantRef

MANAGERS = ("owner", "admin")
ROLE_LABELS = {
    "owner": "Owner",
    "admin": "Admin",
    "manager": "Manager",
    "sales_rep": "Sales rep",
    "service_agent": "Service agent",
    "read_only": "Read only",
}


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


def _known_role(tsession: Session, role: str) -> bool:
    """A built-in role or one of the workspace's own (defined in its schema)."""
    from rapport.tenants.roles import services as roles

    return role in ROLES or roles.exists(tsession, role)


def members_of(tenant_id: uuid.UUID) -> list[tuple[Membership, User]]:
    rows = db.session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id, Membership.active.is_(True))
        .order_by(func.lower(User.name))
    ).all()
    return [(m, u) for m, u in rows]


def pending_invitations(tenant_id: uuid.UUID) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(
                Invitation.tenant_id == tenant_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at)
        )
    )


def invitation_count(tenant_id: uuid.UUID) -> int:
    """Invitations ever sent from a workspace (pending, accepted or revoked)."""
    return (
        db.session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.tenant_id == tenant_id)
        )
        or 0
    )


def _require_manager(actor: Membership, role: str | None = None) -> None:
    if actor.role not in MANAGERS:
        raise PermissionDenied("Only owners and admins can manage members.")
    if role == "owner" and actor.role != "owner":
        raise PermissionDenied("Only an owner can make someone an owner.")


def _actor(user: User) -> Actor:
    return Actor("user", str(user.id), user.email)


def invite(
    tsession: Session, tenant: TenantRef, actor: Membership, inviter: User, email: str, role: str
) -> Invitation:
    """Invite an address to the workspace with a role and email it the link."""
    errors: dict[str, list[str]] = {}
    try:
        email = normalize_email(email)
    except ValueError as exc:
        errors["email"] = [str(exc)]
    if not _known_role(tsession, role):
        errors["role"] = ["Choose a role."]
    if errors:
        raise ValidationFailed(errors)
    _require_manager(actor, role)
    existing = find_user(db.session, email)
    if existing is not None and membership(existing.id, tenant.id) is not None:
        raise ValidationFailed({"email": [f"{email} is already a member of this workspace."]})
    # Inviting the same address again replaces the earlier link (e.g. to change the role).
    db.session.execute(
        update(Invitation)
        .where(Invitation.tenant_id == tenant.id, Invitation.email == email)
        .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    row_id = new_id()
    invitation = Invitation(
        id=row_id,
        tenant_id=tenant.id,
        email=email,
        role=role,
        token_hash=tokens.digest(tokens.sign(tokens.INVITATION, row_id)),
        invited_by=inviter.id,
        expires_at=utcnow() + tokens.LIFETIMES[tokens.INVITATION],
    )
    db.session.add(invitation)
    db.session.flush([invitation])
    emails.queue_email(tokens.INVITATION, invitation.id)
    audit.record(
        tsession,
        "member.invited",
        "invitation",
        invitation.id,
        {"email": [None, email], "role": [None, role]},
        actor=_actor(inviter),
    )
    return invitation


def revoke_invitation(
    tsession: Session, tenant: TenantRef, actor: Membership, invitation_id: uuid.UUID
) -> None:
    _require_manager(actor)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.tenant_id != tenant.id or not invitation.pending:
        raise NotFound("That invitation does not exist or was already used.")
    invitation.revoked_at = utcnow()
    audit.record(
        tsession,
        "member.invitation_revoked",
        "invitation",
        invitation.id,
        {"email": [invitation.email, None]},
    )


def find_invitation(token: str) -> Invitation | None:
    """The pending, unexpired invitation a link names, or None."""
    row_id = tokens.unsign(tokens.INVITATION, token)
    if row_id is None:
        return None
    invitation = db.session.scalars(
        select(Invitation).where(Invitation.token_hash == tokens.digest(token))
    ).first()
    if invitation is None or invitation.id != row_id or not invitation.pending:
        return None
    if tokens.expired(invitation.expires_at):
        return None
    tenant = db.session.get(Tenant, invitation.tenant_id)
    if tenant is None or tenant.state != "active":
        return None
    return invitation


def accept(tsession: Session, invitation: Invitation, user: User) -> Membership:
    """Join the invitation's workspace as ``user``, who must own the invited address."""
    if user.email != invitation.email:
        raise PermissionDenied(f"This invitation is for {invitation.email}.")
    member = db.session.scalars(
        select(Membership).where(
            Membership.tenant_id == invitation.tenant_id, Membership.user_id == user.id
        )
    ).first()
    if member is None:
        member = Membership(user_id=user.id, tenant_id=invitation.tenant_id, role=invitation.role)
        db.session.add(member)
    elif not member.active:
        member.active, member.role = True, invitation.role
    invitation.accepted_at = utcnow()
    invitation.accepted_by = user.id
    # The link reached this address, which proves it.
    mark_verified(user)
    db.session.flush()
    audit.record(
        tsession,
        "member.added",
        "user",
        user.id,
        {"role": [None, member.role], "email": [None, user.email]},
        actor=_actor(user),
        note="accepted an invitation",
    )
    return member


def register_invited(invitation: Invitation, name: str, password: str) -> User:
    """Create the account of an invited address that has none yet."""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Enter your name."]
    elif len(name) > 200:
        errors["name"] = ["Use at most 200 characters."]
    problems = password_problems(password, email=invitation.email, name=name)
    if problems:
        errors["password"] = problems
    if errors:
        raise ValidationFailed(errors)
    if find_user(db.session, invitation.email) is not None:
        raise Conflict("An account with this email exists now. Sign in to accept the invitation.")
    user = User(email=invitation.email, name=name, password_hash=hash_password(password))
    db.session.add(user)
    db.session.flush([user])
    audit.record_platform(
        db.session,
        "user.created",
        "user",
        user.id,
        {"email": [None, user.email]},
        tenant_id=invitation.tenant_id,
        actor=_actor(user),
        note="from an invitation",
    )
    return user


def _target(tenant: TenantRef, membership_id: uuid.UUID) -> Membership:
    member = db.session.get(Membership, membership_id)
    if member is None or member.tenant_id != tenant.id or not member.active:
        raise NotFound("That member does not exist.")
    return member


def _owners(tenant_id: uuid.UUID) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.role == "owner",
                Membership.active.is_(True),
            )
        )
        or 0
    )


def change_role(
    tsession: Session, tenant: TenantRef, actor: Membership, membership_id: uuid.UUID, role: str
) -> Membership:
    if not _known_role(tsession, role):
        raise ValidationFailed({"role": ["Choose a role."]})
    _require_manager(actor, role)
    member = _target(tenant, membership_id)
    if member.role == "owner" and actor.role != "owner":
        raise PermissionDenied("Only an owner can change another owner's role.")
    if member.role == role:
        return member
    if member.role == "owner" and _owners(tenant.id) <= 1:
        raise Conflict("A workspace needs at least one owner. Make someone else an owner first.")
    before = member.role
    member.role = role
    db.session.flush([member])
    audit.record(tsession, "member.role_changed", "user", member.user_id, {"role": [before, role]})
    return member


def remove(
    tsession: Session, tenant: TenantRef, actor: Membership, membership_id: uuid.UUID
) -> None:
    _require_manager(actor)
    member = _target(tenant, membership_id)
    if member.role == "owner" and actor.role != "owner":
        raise PermissionDenied("Only an owner can remove an owner.")
    if member.role == "owner" and _owners(tenant.id) <= 1:
        raise Conflict("A workspace needs at least one owner. Make someone else an owner first.")
    user_id, role = member.user_id, member.role
    db.session.delete(member)
    db.session.flush()
    audit.record(tsession, "member.removed", "user", user_id, {"role": [role, None]})
