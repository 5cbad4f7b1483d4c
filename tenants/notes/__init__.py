"""Notes and attachments on any record."""
