"""Booking by voice: the booking sub-dialog (a step table over a booking.store.BookingStore), the spoken date
parser, the phrases it says and hears, and the bridge from the call flow's ``Book`` command."""
