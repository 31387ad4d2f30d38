"""Appointments, the domain: working-day calendar, slot policy, the race-free transactional store, the rules
synced from the knowledge base, their CLI and doctor checks.

May import: hotline (settings, database, models). Used by ivr (the voice booking dialog) and admin (the
bookings pages); it imports neither.
"""
