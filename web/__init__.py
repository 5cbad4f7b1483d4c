"""The browser surface: blueprints, templates and static assets."""
