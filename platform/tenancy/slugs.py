"""Workspace slugs: the first path segment of every tenant URL."""

from __future__ import annotations

import re
import unicodedata

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")

# Anything the application routes at the top level, plus names that would confuse people.
RESERVED = frozenset(
    [
        "about",
        "account",
        "accounts",
        "admin",
        "api",
        "app",
        "apps",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "dashboard",
        "dev",
        "docs",
        "download",
        "favicon.ico",
        "forms",
        "healthz",
        "help",
        "home",
        "invite",
        "invites",
        "join",
        "login",
        "logout",
        "mail",
        "mailbox",
        "metrics",
        "new",
        "oauth",
        "oidc",
        "openapi",
        "platform",
        "pricing",
        "provider",
        "public",
        "register",
        "reset",
        "robots.txt",
        "root",
        "security",
        "settings",
        "signup",
        "sso",
        "static",
        "status",
        "support",
        "system",
        "tenant",
        "tenants",
        "terms",
        "verify",
        "webhook",
        "webhooks",
        "workspaces",
        "www",
    ]
)


class SlugError(ValueError):
    pass


def validate_slug(slug: str) -> str:
    """Return the slug if it can name a workspace, else raise SlugError with a readable reason."""
    if not slug:
        raise SlugError("Choose a workspace address.")
    if len(slug) < 3:
        raise SlugError("Use at least 3 characters.")
    if len(slug) > 40:
        raise SlugError("Use at most 40 characters.")
    if not SLUG_RE.match(slug):
        raise SlugError(
            "Use lowercase letters, digits and hyphens, starting and ending with a letter or digit."
        )
    if "--" in slug:
        raise SlugError("Do not use two hyphens in a row.")
    if slug in RESERVED:
        raise SlugError(f"“{slug}” is reserved; choose another address.")
    return slug


def suggest_slug(name: str) -> str:
    """Suggest a slug from a company name (ASCII-folded; empty when nothing usable remains)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    slug = re.sub(r"-{2,}", "-", slug)[:40].strip("-")
    return slug
