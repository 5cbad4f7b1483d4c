"""The sales CRM's records, search, saved views, webhooks and idempotent requests.

Revision ID: t0005
Revises: t0004
Create Date: 2026-11-23

Additive: new tables (leads, teams and territories, activities, visit plans, notes and
attachments, the search index, saved views, webhooks, idempotent requests), new nullable or
defaulted columns on companies, contacts and field definitions, and then three data steps for
existing tenants: the search index's own DDL (an FTS5 table on SQLite, a GIN index on
PostgreSQL) and its first fill, and one primary row in ``contact_emails`` / ``contact_phones``
for each contact's existing email and phone, so the lookup finds them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapport.platform.migrate import tenant_schema

revision = "t0005"
down_revision = "t0004"
branch_labels = None
depends_on = None
# What this revision adds to the models: ("table", name, "") | ("column", table, name) |
# ("index", table, name). A regenerated baseline leaves these to this revision, and the fleet
# grants the tenant's role on the tables it adds.
adds: tuple[tuple[str, str, str], ...] = (
    ("table", "attachments", ""),
    ("index", "attachments", "ix_attachments_record_type_record_id"),
    ("table", "idempotent_requests", ""),
    ("index", "idempotent_requests", "ix_idempotent_requests_created_at"),
    ("table", "lead_forms", ""),
    ("table", "notes", ""),
    ("index", "notes", "ix_notes_record_type_record_id"),
    ("table", "saved_views", ""),
    ("index", "saved_views", "ix_saved_views_user_id"),
    ("table", "search_entries", ""),
    ("index", "search_entries", "ix_search_entries_record_type"),
    ("table", "teams", ""),
    ("table", "visit_plans", ""),
    ("table", "webhook_endpoints", ""),
    ("table", "activities", ""),
    ("index", "activities", "ix_activities_due_at"),
    ("index", "activities", "ix_activities_owner_id_due_at"),
    ("index", "activities", "ix_activities_status_remind_at"),
    ("index", "activities", "ix_activities_visit_plan_id"),
    ("table", "company_team_members", ""),
    ("index", "company_team_members", "ix_company_team_members_company_id"),
    ("index", "company_team_members", "ix_company_team_members_user_id"),
    ("table", "team_members", ""),
    ("index", "team_members", "ix_team_members_team_id"),
    ("index", "team_members", "ix_team_members_user_id"),
    ("table", "territories", ""),
    ("index", "territories", "ix_territories_team_id"),
    ("table", "visit_plan_customers", ""),
    ("index", "visit_plan_customers", "ix_visit_plan_customers_plan_id"),
    ("index", "visit_plan_customers", "ix_visit_plan_customers_record_type_record_id"),
    ("table", "webhook_deliveries", ""),
    ("index", "webhook_deliveries", "ix_webhook_deliveries_created_at"),
    ("index", "webhook_deliveries", "ix_webhook_deliveries_due"),
    ("index", "webhook_deliveries", "ix_webhook_deliveries_endpoint_id"),
    ("table", "activity_links", ""),
    ("index", "activity_links", "ix_activity_links_activity_id"),
    ("index", "activity_links", "ix_activity_links_record_type_record_id"),
    ("table", "contact_companies", ""),
    ("index", "contact_companies", "ix_contact_companies_company_id"),
    ("index", "contact_companies", "ix_contact_companies_contact_id"),
    ("table", "contact_emails", ""),
    ("index", "contact_emails", "ix_contact_emails_contact_id"),
    ("index", "contact_emails", "ix_contact_emails_email"),
    ("table", "contact_phones", ""),
    ("index", "contact_phones", "ix_contact_phones_contact_id"),
    ("table", "webhook_attempts", ""),
    ("index", "webhook_attempts", "ix_webhook_attempts_delivery_id"),
    ("table", "leads", ""),
    ("index", "leads", "ix_leads_company_name"),
    ("index", "leads", "ix_leads_email"),
    ("index", "leads", "ix_leads_last_name"),
    ("index", "leads", "ix_leads_owner_id"),
    ("index", "leads", "ix_leads_status"),
    ("index", "leads", "ix_leads_team_id"),
    ("column", "companies", "size"),
    ("column", "companies", "classification"),
    ("column", "companies", "parent_id"),
    ("column", "companies", "street"),
    ("column", "companies", "postal_code"),
    ("column", "companies", "region"),
    ("column", "companies", "preferred_channel"),
    ("column", "companies", "do_not_email"),
    ("column", "companies", "do_not_call"),
    ("index", "companies", "ix_companies_classification"),
    ("index", "companies", "ix_companies_parent_id"),
    ("column", "contacts", "department"),
    ("column", "contacts", "do_not_call"),
    ("column", "contacts", "do_not_email"),
    ("column", "field_definitions", "config"),
)


def upgrade() -> None:
    schema = tenant_schema()
    op.create_table(
        "attachments",
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_label", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        schema=schema,
    )
    op.create_index(
        "ix_attachments_record_type_record_id",
        "attachments",
        ["record_type", "record_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "idempotent_requests",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotent_requests")),
        sa.UniqueConstraint(
            "api_key_id", "key", name=op.f("uq_idempotent_requests_api_key_id_key")
        ),
        schema=schema,
    )
    op.create_index(
        "ix_idempotent_requests_created_at",
        "idempotent_requests",
        ["created_at"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "lead_forms",
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("allowed_return_urls", sa.JSON(), nullable=False),
        sa.Column("thank_you", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_forms")),
        schema=schema,
    )
    op.create_table(
        "notes",
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_label", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
        schema=schema,
    )
    op.create_index(
        "ix_notes_record_type_record_id",
        "notes",
        ["record_type", "record_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "saved_views",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("sort", sa.String(length=60), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint(
            "user_id", "record_type", "name", name=op.f("uq_saved_views_user_id_record_type_name")
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_saved_views_user_id"), "saved_views", ["user_id"], unique=False, schema=schema
    )
    op.create_table(
        "search_entries",
        sa.Column(
            "doc_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("subtitle", sa.String(length=300), nullable=True),
        sa.Column("title_key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("doc_id", name=op.f("pk_search_entries")),
        sa.UniqueConstraint("record_id", name=op.f("uq_search_entries_record_id")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_search_entries_record_type"),
        "search_entries",
        ["record_type"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "teams",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("last_assigned_user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
        schema=schema,
    )
    op.create_table(
        "visit_plans",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("every", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=5), nullable=False),
        sa.Column("weekdays", sa.String(length=30), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("visit_time", sa.Time(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_plans")),
        schema=schema,
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("secret_hint", sa.String(length=12), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(length=300), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        schema=schema,
    )
    op.create_table(
        "activities",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("visit_plan_id", sa.Uuid(), nullable=True),
        sa.Column("visit_customer_id", sa.Uuid(), nullable=True),
        sa.Column("visit_date", sa.Date(), nullable=True),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["visit_plan_id"],
            [f"{schema}.visit_plans.id"],
            name=op.f("fk_activities_visit_plan_id_visit_plans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
        sa.UniqueConstraint(
            "visit_plan_id",
            "visit_customer_id",
            "visit_date",
            name=op.f("uq_activities_visit_plan_id_visit_customer_id_visit_date"),
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_activities_due_at"), "activities", ["due_at"], unique=False, schema=schema
    )
    op.create_index(
        "ix_activities_owner_id_due_at",
        "activities",
        ["owner_id", "due_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        "ix_activities_status_remind_at",
        "activities",
        ["status", "remind_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_activities_visit_plan_id"),
        "activities",
        ["visit_plan_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "company_team_members",
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            [f"{schema}.companies.id"],
            name=op.f("fk_company_team_members_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_team_members")),
        sa.UniqueConstraint(
            "company_id", "user_id", name=op.f("uq_company_team_members_company_id_user_id")
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_company_team_members_company_id"),
        "company_team_members",
        ["company_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_company_team_members_user_id"),
        "company_team_members",
        ["user_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("is_manager", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            [f"{schema}.teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint("team_id", "user_id", name=op.f("uq_team_members_team_id_user_id")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_team_members_team_id"), "team_members", ["team_id"], unique=False, schema=schema
    )
    op.create_index(
        op.f("ix_team_members_user_id"), "team_members", ["user_id"], unique=False, schema=schema
    )
    op.create_table(
        "territories",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("industries", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            [f"{schema}.teams.id"],
            name=op.f("fk_territories_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territories")),
        sa.UniqueConstraint("name", name=op.f("uq_territories_name")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_territories_team_id"), "territories", ["team_id"], unique=False, schema=schema
    )
    op.create_table(
        "visit_plan_customers",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            [f"{schema}.visit_plans.id"],
            name=op.f("fk_visit_plan_customers_plan_id_visit_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_plan_customers")),
        sa.UniqueConstraint(
            "plan_id",
            "record_type",
            "record_id",
            name=op.f("uq_visit_plan_customers_plan_id_record_type_record_id"),
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_visit_plan_customers_plan_id"),
        "visit_plan_customers",
        ["plan_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        "ix_visit_plan_customers_record_type_record_id",
        "visit_plan_customers",
        ["record_type", "record_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            [f"{schema}.webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name=op.f("uq_webhook_deliveries_endpoint_id_event_id")
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_webhook_deliveries_created_at"),
        "webhook_deliveries",
        ["created_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["state", "next_attempt_at"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_webhook_deliveries_endpoint_id"),
        "webhook_deliveries",
        ["endpoint_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "activity_links",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            [f"{schema}.activities.id"],
            name=op.f("fk_activity_links_activity_id_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_links")),
        sa.UniqueConstraint(
            "activity_id",
            "record_type",
            "record_id",
            name=op.f("uq_activity_links_activity_id_record_type_record_id"),
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_activity_links_activity_id"),
        "activity_links",
        ["activity_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        "ix_activity_links_record_type_record_id",
        "activity_links",
        ["record_type", "record_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "contact_companies",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            [f"{schema}.companies.id"],
            name=op.f("fk_contact_companies_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            [f"{schema}.contacts.id"],
            name=op.f("fk_contact_companies_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_companies")),
        sa.UniqueConstraint(
            "contact_id", "company_id", name=op.f("uq_contact_companies_contact_id_company_id")
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_contact_companies_company_id"),
        "contact_companies",
        ["company_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_contact_companies_contact_id"),
        "contact_companies",
        ["contact_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "contact_emails",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            [f"{schema}.contacts.id"],
            name=op.f("fk_contact_emails_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_emails")),
        sa.UniqueConstraint("contact_id", "email", name=op.f("uq_contact_emails_contact_id_email")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_contact_emails_contact_id"),
        "contact_emails",
        ["contact_id"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_contact_emails_email"), "contact_emails", ["email"], unique=False, schema=schema
    )
    op.create_table(
        "contact_phones",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            [f"{schema}.contacts.id"],
            name=op.f("fk_contact_phones_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_phones")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_contact_phones_contact_id"),
        "contact_phones",
        ["contact_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("response_excerpt", sa.String(length=1000), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            [f"{schema}.webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        sa.UniqueConstraint(
            "delivery_id", "number", name=op.f("uq_webhook_attempts_delivery_id_number")
        ),
        schema=schema,
    )
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id"),
        "webhook_attempts",
        ["delivery_id"],
        unique=False,
        schema=schema,
    )
    op.create_table(
        "leads",
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=150), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rating", sa.String(length=10), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("custom", sa.JSON(), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("converted_company_id", sa.Uuid(), nullable=True),
        sa.Column("converted_contact_id", sa.Uuid(), nullable=True),
        sa.Column("converted_deal_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["converted_company_id"],
            [f"{schema}.companies.id"],
            name=op.f("fk_leads_converted_company_id_companies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["converted_contact_id"],
            [f"{schema}.contacts.id"],
            name=op.f("fk_leads_converted_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["converted_deal_id"],
            [f"{schema}.deals.id"],
            name=op.f("fk_leads_converted_deal_id_deals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            [f"{schema}.teams.id"],
            name=op.f("fk_leads_team_id_teams"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_leads_company_name"), "leads", ["company_name"], unique=False, schema=schema
    )
    op.create_index(op.f("ix_leads_email"), "leads", ["email"], unique=False, schema=schema)
    op.create_index(op.f("ix_leads_last_name"), "leads", ["last_name"], unique=False, schema=schema)
    op.create_index(op.f("ix_leads_owner_id"), "leads", ["owner_id"], unique=False, schema=schema)
    op.create_index(op.f("ix_leads_status"), "leads", ["status"], unique=False, schema=schema)
    op.create_index(op.f("ix_leads_team_id"), "leads", ["team_id"], unique=False, schema=schema)
    op.add_column(
        "companies", sa.Column("size", sa.String(length=20), nullable=True), schema=schema
    )
    op.add_column(
        "companies", sa.Column("classification", sa.String(length=1), nullable=True), schema=schema
    )
    op.add_column("companies", sa.Column("parent_id", sa.Uuid(), nullable=True), schema=schema)
    if op.get_bind().dialect.name == "postgresql":  # see the model: PostgreSQL's guard only
        op.create_foreign_key(
            op.f("fk_companies_parent_id_companies"),
            "companies",
            "companies",
            ["parent_id"],
            ["id"],
            source_schema=schema,
            referent_schema=schema,
            ondelete="SET NULL",
        )
    op.add_column(
        "companies", sa.Column("street", sa.String(length=200), nullable=True), schema=schema
    )
    op.add_column(
        "companies", sa.Column("postal_code", sa.String(length=20), nullable=True), schema=schema
    )
    op.add_column(
        "companies", sa.Column("region", sa.String(length=100), nullable=True), schema=schema
    )
    op.add_column(
        "companies",
        sa.Column("preferred_channel", sa.String(length=20), nullable=True),
        schema=schema,
    )
    op.add_column(
        "companies",
        sa.Column("do_not_email", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema=schema,
    )
    op.add_column(
        "companies",
        sa.Column("do_not_call", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema=schema,
    )
    op.create_index(
        op.f("ix_companies_classification"),
        "companies",
        ["classification"],
        unique=False,
        schema=schema,
    )
    op.create_index(
        op.f("ix_companies_parent_id"), "companies", ["parent_id"], unique=False, schema=schema
    )
    op.create_index(
        "ix_companies_lower_name_id",
        "companies",
        [sa.text("lower(name)"), "id"],
        unique=False,
        schema=schema,
    )
    op.add_column(
        "contacts", sa.Column("department", sa.String(length=150), nullable=True), schema=schema
    )
    op.add_column(
        "contacts",
        sa.Column("do_not_call", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema=schema,
    )
    op.add_column(
        "contacts",
        sa.Column("do_not_email", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema=schema,
    )
    op.add_column("field_definitions", sa.Column("config", sa.JSON(), nullable=True), schema=schema)
    _backfill_contact_channels(schema)
    _install_search(schema)


def _backfill_contact_channels(schema: str) -> None:
    """Each contact's existing email and phone become its primary entries."""
    from rapport.platform.ids import new_id

    bind = op.get_bind()
    contacts = sa.table(
        "contacts", sa.column("id", sa.Uuid()), sa.column("email"), sa.column("phone"),
        schema=schema,
    )  # fmt: skip
    emails = sa.table(
        "contact_emails", sa.column("id", sa.Uuid()), sa.column("contact_id", sa.Uuid()),
        sa.column("email"), sa.column("is_primary"), sa.column("position"), schema=schema,
    )  # fmt: skip
    phones = sa.table(
        "contact_phones", sa.column("id", sa.Uuid()), sa.column("contact_id", sa.Uuid()),
        sa.column("phone"), sa.column("is_primary"), sa.column("position"), schema=schema,
    )  # fmt: skip
    rows = bind.execute(sa.select(contacts.c.id, contacts.c.email, contacts.c.phone)).all()
    email_rows = [
        {"id": new_id(), "contact_id": r.id, "email": r.email, "is_primary": True, "position": 0}
        for r in rows
        if r.email
    ]
    phone_rows = [
        {"id": new_id(), "contact_id": r.id, "phone": r.phone, "is_primary": True, "position": 0}
        for r in rows
        if r.phone
    ]
    if email_rows:
        bind.execute(emails.insert(), email_rows)
    if phone_rows:
        bind.execute(phones.insert(), phone_rows)


def _install_search(schema: str) -> None:
    """The search index's DDL outside the metadata, then its first fill from existing records.

    The placeholder schema of the authoring tools' scratch database gets neither: it is compared
    with the metadata, which describes only the ``search_entries`` table.
    """
    from rapport.platform.migrate import TENANT_SCHEMA
    from rapport.tenants.search import ddl, index

    if schema == TENANT_SCHEMA:
        return
    bind = op.get_bind()
    ddl.install(bind, schema, bind.dialect.name)
    # Reads the records through the current models: run this revision with the code it ships in.
    index.build(bind, schema)


def downgrade() -> None:
    schema = tenant_schema()
    from rapport.platform.migrate import TENANT_SCHEMA
    from rapport.tenants.search import ddl

    if schema != TENANT_SCHEMA:
        ddl.uninstall(op.get_bind(), schema, op.get_bind().dialect.name)
    op.drop_index("ix_companies_lower_name_id", table_name="companies", schema=schema)
    op.drop_column("field_definitions", "config", schema=schema)
    op.drop_column("contacts", "do_not_email", schema=schema)
    op.drop_column("contacts", "do_not_call", schema=schema)
    op.drop_column("contacts", "department", schema=schema)
    if op.get_bind().dialect.name == "postgresql":  # see upgrade
        op.drop_constraint(
            op.f("fk_companies_parent_id_companies"), "companies", schema=schema, type_="foreignkey"
        )
    op.drop_index(op.f("ix_companies_parent_id"), table_name="companies", schema=schema)
    op.drop_index(op.f("ix_companies_classification"), table_name="companies", schema=schema)
    op.drop_column("companies", "do_not_call", schema=schema)
    op.drop_column("companies", "do_not_email", schema=schema)
    op.drop_column("companies", "preferred_channel", schema=schema)
    op.drop_column("companies", "region", schema=schema)
    op.drop_column("companies", "postal_code", schema=schema)
    op.drop_column("companies", "street", schema=schema)
    op.drop_column("companies", "parent_id", schema=schema)
    op.drop_column("companies", "classification", schema=schema)
    op.drop_column("companies", "size", schema=schema)
    op.drop_index(op.f("ix_leads_team_id"), table_name="leads", schema=schema)
    op.drop_index(op.f("ix_leads_status"), table_name="leads", schema=schema)
    op.drop_index(op.f("ix_leads_owner_id"), table_name="leads", schema=schema)
    op.drop_index(op.f("ix_leads_last_name"), table_name="leads", schema=schema)
    op.drop_index(op.f("ix_leads_email"), table_name="leads", schema=schema)
    op.drop_index(op.f("ix_leads_company_name"), table_name="leads", schema=schema)
    op.drop_table("leads", schema=schema)
    op.drop_index(
        op.f("ix_webhook_attempts_delivery_id"), table_name="webhook_attempts", schema=schema
    )
    op.drop_table("webhook_attempts", schema=schema)
    op.drop_index(op.f("ix_contact_phones_contact_id"), table_name="contact_phones", schema=schema)
    op.drop_table("contact_phones", schema=schema)
    op.drop_index(op.f("ix_contact_emails_email"), table_name="contact_emails", schema=schema)
    op.drop_index(op.f("ix_contact_emails_contact_id"), table_name="contact_emails", schema=schema)
    op.drop_table("contact_emails", schema=schema)
    op.drop_index(
        op.f("ix_contact_companies_contact_id"), table_name="contact_companies", schema=schema
    )
    op.drop_index(
        op.f("ix_contact_companies_company_id"), table_name="contact_companies", schema=schema
    )
    op.drop_table("contact_companies", schema=schema)
    op.drop_index(
        "ix_activity_links_record_type_record_id", table_name="activity_links", schema=schema
    )
    op.drop_index(op.f("ix_activity_links_activity_id"), table_name="activity_links", schema=schema)
    op.drop_table("activity_links", schema=schema)
    op.drop_index(
        op.f("ix_webhook_deliveries_endpoint_id"), table_name="webhook_deliveries", schema=schema
    )
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries", schema=schema)
    op.drop_index(
        op.f("ix_webhook_deliveries_created_at"), table_name="webhook_deliveries", schema=schema
    )
    op.drop_table("webhook_deliveries", schema=schema)
    op.drop_index(
        "ix_visit_plan_customers_record_type_record_id",
        table_name="visit_plan_customers",
        schema=schema,
    )
    op.drop_index(
        op.f("ix_visit_plan_customers_plan_id"), table_name="visit_plan_customers", schema=schema
    )
    op.drop_table("visit_plan_customers", schema=schema)
    op.drop_index(op.f("ix_territories_team_id"), table_name="territories", schema=schema)
    op.drop_table("territories", schema=schema)
    op.drop_index(op.f("ix_team_members_user_id"), table_name="team_members", schema=schema)
    op.drop_index(op.f("ix_team_members_team_id"), table_name="team_members", schema=schema)
    op.drop_table("team_members", schema=schema)
    op.drop_index(
        op.f("ix_company_team_members_user_id"), table_name="company_team_members", schema=schema
    )
    op.drop_index(
        op.f("ix_company_team_members_company_id"), table_name="company_team_members", schema=schema
    )
    op.drop_table("company_team_members", schema=schema)
    op.drop_index(op.f("ix_activities_visit_plan_id"), table_name="activities", schema=schema)
    op.drop_index("ix_activities_status_remind_at", table_name="activities", schema=schema)
    op.drop_index("ix_activities_owner_id_due_at", table_name="activities", schema=schema)
    op.drop_index(op.f("ix_activities_due_at"), table_name="activities", schema=schema)
    op.drop_table("activities", schema=schema)
    op.drop_table("webhook_endpoints", schema=schema)
    op.drop_table("visit_plans", schema=schema)
    op.drop_table("teams", schema=schema)
    op.drop_index(op.f("ix_search_entries_record_type"), table_name="search_entries", schema=schema)
    op.drop_table("search_entries", schema=schema)
    op.drop_index(op.f("ix_saved_views_user_id"), table_name="saved_views", schema=schema)
    op.drop_table("saved_views", schema=schema)
    op.drop_index("ix_notes_record_type_record_id", table_name="notes", schema=schema)
    op.drop_table("notes", schema=schema)
    op.drop_table("lead_forms", schema=schema)
    op.drop_index(
        "ix_idempotent_requests_created_at", table_name="idempotent_requests", schema=schema
    )
    op.drop_table("idempotent_requests", schema=schema)
    op.drop_index("ix_attachments_record_type_record_id", table_name="attachments", schema=schema)
    op.drop_table("attachments", schema=schema)
