"""Flask admin panel and agent console."""
