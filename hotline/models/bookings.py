"""Appointment tables (owned by the appointments issue). Placeholder until its migration lands."""
