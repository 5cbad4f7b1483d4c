#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory.
# Creates the two roles Rapport needs and the database the owner role owns:
#   rapport_owner  migrations and provisioning: creates tenant schemas and tenant roles
#   rapport_app    what the web and worker processes log in as: NOINHERIT, so it can use a tenant
#                  role's rights only after switching into it, one transaction at a time
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$RAPPORT_OWNER_PASSWORD" -v app_password="$RAPPORT_APP_PASSWORD" <<'SQL'
CREATE ROLE rapport_owner LOGIN CREATEROLE PASSWORD :'owner_password';
CREATE ROLE rapport_app LOGIN NOINHERIT PASSWORD :'app_password';
CREATE DATABASE rapport OWNER rapport_owner;
REVOKE ALL ON DATABASE rapport FROM PUBLIC;
GRANT CONNECT ON DATABASE rapport TO rapport_app;
SQL

# Nobody but the owner may create objects in public (the default before PostgreSQL 15).
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname rapport \
  -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC"
