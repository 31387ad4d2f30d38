"""Service-item knowledge base: schema, source files, import/validation, retrieval and spoken answers."""
