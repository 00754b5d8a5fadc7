"""Home page, health check, language switch, API docs page."""
