"""Modules: parts of Rapport a workspace switches on and off, within what its plan includes."""
