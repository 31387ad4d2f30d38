"""Service-item knowledge base: schema, YAML source files (``kb/data``), loading and validation, the database
store and import/export, retrieval, the QA engine and spoken-answer composition, the one reloader that keeps an
engine in step with the database.

May import: hotline (settings, database, models). Used by ivr, admin and booking's KB sync; imports none of them.
"""
