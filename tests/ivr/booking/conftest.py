"""The booking domain's fixtures (a store on a real migrated database, a fixed clock) for the voice dialog tests."""

from tests.booking.conftest import any_store, store  # noqa: F401 - fixtures
