"""Persistence of a review project: SQLite by default, PostgreSQL for teams."""
