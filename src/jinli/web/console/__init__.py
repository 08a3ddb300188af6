"""The operator console: login, dashboard, campaigns, team (operators, API keys), audit log."""
