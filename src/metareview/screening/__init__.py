"""Screening: decisions, dual review, active learning, stopping rules, simulation metrics."""
