"""Identity operations: sign-up, workspace creation, authentication.

Services validate, change and audit; they never commit (the boundary does), except where
provisioning must own its transaction (creating a tenant is DDL plus registry rows, all or nothing).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.db import db, utcnow
from rapport.platform.errors import ValidationFailed
from rapport.platform.identity.models import ROLES, Membership, User
from rapport.platform.identity.passwords import hash_password, password_problems, verify_password
from rapport.platform.ids import new_id
from rapport.platform.tenancy.models import Tenant, TenantRef
from rapport.platform.tenancy.provisioning import SlugTaken, provision_tenant, slug_available
from rapport.platform.tenancy.scope import tenancy
from rapport.platform.tenancy.slugs import SlugError, validate_slug


@dataclass
class WorkspaceCreated:
    tenant: TenantRef
    user_id: uuid.UUID
    new_user: bool


def normalize_email(raw: str) -> str:
    """Validate an email address and return its normal form; raise ValueError with a reason."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return result.normalized.lower()


def find_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.lower())).first()


def validate_workspace(
    errors: dict[str, list[str]], company_name: str, slug: str, *, name_field: str = "company_name"
) -> None:
    """Add what is wrong with a new workspace's name and address to ``errors``."""
    if not company_name.strip():
        errors.setdefault(name_field, []).append("Enter your company's name.")
    elif len(company_name.strip()) > 200:
        errors.setdefault(name_field, []).append("Use at most 200 characters.")
    try:
        validate_slug(slug)
    except SlugError as exc:
        errors.setdefault("slug", []).append(str(exc))
    else:
        if not slug_available(db.session, slug):
            errors.setdefault("slug", []).append("That workspace address is taken; choose another.")


def sign_up(
    *, company_name: str, slug: str, owner_name: str, email: str, password: str, locale: str = "en"
) -> WorkspaceCreated:
    """Create a workspace and its owner account from the public sign-up form."""
    errors: dict[str, list[str]] = {}
    company_name, slug, owner_name = company_name.strip(), slug.strip().lower(), owner_name.strip()
    validate_workspace(errors, company_name, slug)
    if not owner_name:
        errors.setdefault("name", []).append("Enter your name.")
    try:
        email = normalize_email(email)
    except ValueError as exc:
        errors.setdefault("email", []).append(str(exc))
    else:
        if find_user(db.session, email) is not None:
            errors.setdefault("email", []).append(
                "An account with this email already exists. Sign in to create another workspace."
            )
    for problem in password_problems(password, email=email, name=owner_name):
        errors.setdefault("password", []).append(problem)
    if errors:
        raise ValidationFailed(errors)
    return create_workspace(
        company_name=company_name, slug=slug, owner_email=email, owner_name=owner_name,
        owner_password=password, locale=locale,
    )  # fmt: skip


def add_workspace(user: User, *, company_name: str, slug: str) -> WorkspaceCreated:
    """Create another workspace owned by a signed-in user."""
    errors: dict[str, list[str]] = {}
    company_name, slug = company_name.strip(), slug.strip().lower()
    validate_workspace(errors, company_name, slug)
    if errors:
        raise ValidationFailed(errors)
    return create_workspace(
        company_name=company_name,
        slug=slug,
        owner_email=user.email,
        actor=Actor("user", str(user.id), user.email),
    )


def create_workspace(
    *,
    company_name: str,
    slug: str,
    owner_email: str,
    owner_name: str | None = None,
    owner_password: str | None = None,
    locale: str = "en",
    plan: str = "trial",
    actor: Actor | None = None,
) -> WorkspaceCreated:
    """Provision a tenant with an owner (an existing user, or a new one)."""
    owner_email = normalize_email(owner_email)
    existing = find_user(db.session, owner_email)
    # The control plane's read transaction must not hold SQLite's file while provisioning writes.
    db.session.rollback()
    user_id = existing.id if existing else new_id()
    password_hash = hash_password(owner_password) if owner_password else None
    display = owner_name or owner_email.split("@")[0]
    owner_actor = actor or Actor("user", str(user_id), owner_email)

    def control_step(session: Session, tenant: Tenant) -> None:
        if existing is None:
            session.add(
                User(
                    id=user_id,
                    email=owner_email,
                    name=display,
                    password_hash=password_hash,
                    locale=locale,
                )
            )
            session.flush()
        session.add(Membership(user_id=user_id, tenant_id=tenant.id, role="owner"))
        # Every workspace starts with a subscription: a trial, without a card.
        from rapport.billing.services import start_trial

        start_trial(session, tenant.id, plan)
        audit.record_platform(
            session, "tenant.created", "tenant", tenant.id,
            {"slug": [None, tenant.slug], "owner": [None, owner_email]},
            tenant_id=tenant.id, actor=owner_actor,
        )  # fmt: skip

    def tenant_step(session: Session, tenant: TenantRef) -> None:
        audit.record(
            session, "member.added", "user", user_id, {"role": [None, "owner"]}, actor=owner_actor
        )

    try:
        ref = provision_tenant(
            tenancy(), name=company_name, slug=slug, plan=plan, actor=owner_actor,
            control_step=control_step, tenant_step=tenant_step,
        )  # fmt: skip
    except SlugTaken as exc:
        raise ValidationFailed({"slug": [str(exc)]}) from None
    except SlugError as exc:
        raise ValidationFailed({"slug": [str(exc)]}) from None
    return WorkspaceCreated(ref, user_id, existing is None)


def authenticate(email: str, password: str) -> User | None:
    """Return the user for these credentials, or None (same cost whether or not the user exists)."""
    try:
        email = normalize_email(email)
    except ValueError:
        email = ""
    user = find_user(db.session, email) if email else None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled_at is not None:
        return None
    return user


def memberships_of(user_id: uuid.UUID) -> list[tuple[Membership, Tenant]]:
    rows = db.session.execute(
        select(Membership, Tenant)
        .join(Tenant, Tenant.id == Membership.tenant_id)
        .where(Membership.user_id == user_id, Membership.active.is_(True), Tenant.state == "active")
        .order_by(func.lower(Tenant.name))
    ).all()
    return [(m, t) for m, t in rows]


def membership(user_id: uuid.UUID, tenant_id: uuid.UUID) -> Membership | None:
    return db.session.scalars(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.tenant_id == tenant_id,
            Membership.active.is_(True),
        )
    ).first()


def mark_verified(user: User) -> None:
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed({"role": [f"Choose one of: {', '.join(ROLES)}."]})
    return role
