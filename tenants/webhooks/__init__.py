"""Webhooks: signed deliveries of record events to integrators' endpoints."""
