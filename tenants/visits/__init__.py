"""Visit plans: customers visited on a cycle, generated ahead, checked in on site."""
