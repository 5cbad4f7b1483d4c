"""Idempotency-Key: a POST repeated under the same key replays the first response."""
