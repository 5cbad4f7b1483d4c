"""Activities: tasks, calls, meetings and visits, with reminders and a calendar."""
