"""Pipelines: the ordered stages deals move through."""
