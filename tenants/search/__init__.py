"""Global search across the tenant's records."""
