"""Importing records of any record type from CSV or Excel files, through the record services."""
