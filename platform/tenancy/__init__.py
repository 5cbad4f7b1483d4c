"""Schema-per-tenant: the registry, engines, the tenant scope and provisioning."""
