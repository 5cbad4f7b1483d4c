"""The public, embeddable lead capture form of each workspace (routes to come)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("lead_forms", __name__, url_prefix="/forms")
