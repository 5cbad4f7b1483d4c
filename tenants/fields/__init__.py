"""Custom fields: per-tenant definitions, one validator for every write path, their indexes.

Stored fields are validated by ``validation``; calculated ones are kept current on every flush of
a tenant session: formulas (``formula`` language, ``computed`` values) and roll-ups of related
records (``rollup``). ``conversion`` changes a field's type after a preview of every value;
``config`` checks and applies the settings of calculated fields and record lookups; ``lookup``
validates and names the records a lookup field points at.
"""
