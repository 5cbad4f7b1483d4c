"""Teams and territories: who sells where, and how new leads are routed."""
