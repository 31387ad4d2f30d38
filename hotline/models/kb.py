"""Knowledge-base tables (owned by the KB issue). Placeholder until its migration lands."""
