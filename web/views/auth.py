"""Sign-up, sign-in and out, email verification, password reset, invitations, dev mailbox."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.db import db
from rapport.platform.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from rapport.platform.identity import accounts, members
from rapport.platform.identity.models import User
from rapport.platform.identity.services import find_user, sign_up
from rapport.platform.mail import mailbox, mailbox_message
from rapport.platform.tenancy.provisioning import slug_available
from rapport.platform.tenancy.scope import load_tenant, set_request_tenant, tenant_db
from rapport.platform.tenancy.slugs import SlugError, suggest_slug, validate_slug
from rapport.web.auth import current_user, login_required, login_user, logout_user, safe_next

bp = Blueprint("auth", __name__)

SIGNUP_FIELDS = ("company_name", "slug", "name", "email")
RESET_SENT = "If an account exists for that email, we sent a link to reset its password."


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["RAPPORT"]


def _start_session(user: User, slug: str | None = None) -> None:
    login_user(user)
    if slug:
        session["last_workspace"] = slug


# -- sign-up --------------------------------------------------------------------------------------
@bp.route("/signup", methods=["GET", "POST"])
def signup():  # type: ignore[no-untyped-def]
    values = {name: request.form.get(name, "") for name in SIGNUP_FIELDS}
    if request.method == "GET":
        return render_template("auth/signup.html", values=values, errors={})
    try:
        created = sign_up(
            company_name=values["company_name"],
            slug=values["slug"],
            owner_name=values["name"],
            email=values["email"],
            password=request.form.get("password", ""),
        )
    except ValidationFailed as exc:
        return render_template("auth/signup.html", values=values, errors=exc.errors), 422
    user = db.session.get(User, created.user_id)
    assert user is not None
    _start_session(user, created.tenant.slug)
    accounts.start_verification(user)
    flash(f"Welcome to Rapport! Your workspace {created.tenant.name} is ready.", "success")
    return redirect(url_for("workspace.home", slug=created.tenant.slug))


@bp.get("/signup/check-slug")
def check_slug():  # type: ignore[no-untyped-def]
    """Say whether a workspace address can be used (or suggest one from a company name)."""
    slug = request.args.get("slug", "").strip().lower()
    if not slug and request.args.get("name"):
        slug = suggest_slug(request.args["name"])
    try:
        validate_slug(slug)
    except SlugError as exc:
        return jsonify(slug=slug, available=False, message=str(exc))
    if not slug_available(db.session, slug):
        return jsonify(
            slug=slug, available=False, message="That workspace address is taken; choose another."
        )
    return jsonify(slug=slug, available=True, message="This address is available.")


# -- sign-in and out ------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    next_url = request.values.get("next", "")
    email = request.form.get("email", "")
    if request.method == "GET":
        if current_user() is not None and next_url:
            return redirect(safe_next(next_url, url_for("home.index")))
        return render_template("auth/login.html", email="", next=next_url, errors={})
    try:
        user = accounts.sign_in(email, request.form.get("password", ""), request.remote_addr)
    except Throttled as exc:
        response = current_app.make_response(
            (
                render_template(
                    "auth/login.html", email=email, next=next_url, errors={"_form": [exc.message]}
                ),
                429,
            )
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ValidationFailed as exc:
        # 200, not 4xx: the failure's audit entry must commit with the request.
        return render_template("auth/login.html", email=email, next=next_url, errors=exc.errors)
    _start_session(user)
    return redirect(safe_next(next_url, url_for("home.index")))


@bp.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    user = current_user()
    if user is not None:
        accounts.record_logout(user)
    logout_user()
    flash("You are signed out.", "success")
    return redirect(url_for("auth.login"))


# -- email verification ---------------------------------------------------------------------------
@bp.get("/verify/<token>")
def verify(token: str):  # type: ignore[no-untyped-def]
    try:
        user = accounts.verify_email(token)
    except NotFound as exc:
        return render_template(
            "auth/message.html", title="Link not valid", message=exc.message
        ), 404
    flash(f"Thank you: {user.email} is verified.", "success")
    return redirect(url_for("home.index") if current_user() else url_for("auth.login"))


@bp.post("/verify/resend")
@login_required
def resend_verification():  # type: ignore[no-untyped-def]
    user = current_user()
    assert user is not None
    if accounts.start_verification(user):
        flash(f"We sent a new verification link to {user.email}.", "success")
    else:
        flash("Your email address is already verified.", "success")
    return redirect(safe_next(request.form.get("next"), url_for("home.index")))


# -- password reset -------------------------------------------------------------------------------
@bp.route("/reset", methods=["GET", "POST"])
def reset_request():  # type: ignore[no-untyped-def]
    email = request.form.get("email", "")
    if request.method == "GET":
        return render_template("auth/reset_request.html", email="", errors={})
    try:
        accounts.request_password_reset(email, request.remote_addr)
    except ValidationFailed as exc:
        return render_template("auth/reset_request.html", email=email, errors=exc.errors), 422
    except Throttled as exc:
        page = render_template(
            "auth/reset_request.html", email=email, errors={"_form": [exc.message]}
        )
        return page, 429, {"Retry-After": str(exc.retry_after)}
    return render_template("auth/message.html", title="Check your email", message=RESET_SENT)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):  # type: ignore[no-untyped-def]
    try:
        user = accounts.reset_target(token)
    except NotFound as exc:
        return _invalid_link(exc.message)
    if request.method == "GET":
        return render_template("auth/reset_password.html", user=user, errors={})
    try:
        user = accounts.reset_password(token, request.form.get("password", ""))
    except ValidationFailed as exc:
        return render_template("auth/reset_password.html", user=user, errors=exc.errors), 422
    # Every other session of this account ends here: their auth epoch no longer matches.
    _start_session(user)
    flash(
        "Your password is changed and you are signed in. Other sessions were signed out.", "success"
    )
    return redirect(url_for("home.index"))


def _invalid_link(message: str):  # type: ignore[no-untyped-def]
    return render_template(
        "auth/message.html",
        title="Link not valid",
        message=message,
        action=(url_for("auth.reset_request"), "Ask for a new link"),
    ), 404


# -- invitations ----------------------------------------------------------------------------------
@bp.route("/invite/<token>", methods=["GET", "POST"])
def invitation(token: str):  # type: ignore[no-untyped-def]
    invite = members.find_invitation(token)
    if invite is None:
        return render_template(
            "auth/message.html",
            title="Invitation not valid",
            message="This invitation is invalid, expired, revoked or already used. "
            "Ask the person who invited you for a new one.",
        ), 404
    tenant = load_tenant(tenant_id=invite.tenant_id)
    if tenant is None:
        abort(404)
    user = current_user()
    account = find_user(db.session, invite.email)
    context = {
        "invite": invite,
        "tenant": tenant,
        "token": token,
        "role": members.role_label(invite.role),
        "account_exists": account is not None,
        "errors": {},
        "name": "",
    }
    if request.method == "GET":
        return render_template("auth/invitation.html", **context)
    if account is not None:
        # The invitation is bound to its address: only that account, signed in, can accept it.
        if user is None or user.id != account.id:
            abort(403, description=f"Sign in as {invite.email} to accept this invitation.")
    else:
        try:
            user = members.register_invited(
                invite, request.form.get("name", ""), request.form.get("password", "")
            )
        except ValidationFailed as exc:
            context.update(errors=exc.errors, name=request.form.get("name", ""))
            return render_template("auth/invitation.html", **context), 422
        except Conflict as exc:
            flash(exc.message, "error")
            return redirect(url_for("auth.invitation", token=token))
    assert user is not None
    set_request_tenant(tenant)
    set_actor(Actor("user", str(user.id), user.email))
    try:
        members.accept(tenant_db(), invite, user)
    except PermissionDenied as exc:
        abort(403, description=exc.message)
    if account is None:
        _start_session(user, tenant.slug)
    else:
        session["last_workspace"] = tenant.slug
    flash(f"Welcome to {tenant.name}!", "success")
    return redirect(url_for("workspace.home", slug=tenant.slug))


# -- development mailbox --------------------------------------------------------------------------
@bp.get("/dev/mailbox")
def dev_mailbox():  # type: ignore[no-untyped-def]
    if _settings().is_production:
        abort(404)
    return render_template("auth/mailbox.html", messages=mailbox(_settings()), selected=None)


@bp.get("/dev/mailbox/<message_id>")
def dev_mailbox_message(message_id: str):  # type: ignore[no-untyped-def]
    if _settings().is_production:
        abort(404)
    message = mailbox_message(_settings(), message_id)
    if message is None:
        abort(404)
    return render_template("auth/mailbox.html", messages=mailbox(_settings()), selected=message)
