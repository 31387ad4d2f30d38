"""Business logic behind the panel's views: plain functions over a Session, no Flask imports."""
