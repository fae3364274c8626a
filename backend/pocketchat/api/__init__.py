"""HTTP: one blueprint per concern, all of them public API (the web app uses the same)."""
