"""Per-tenant API keys: their format, storage (HMAC only), authentication, limits and usage."""
