"""Appointments by phone: working-day calendar, slots, the transactional store, a date parser and the dialog."""
