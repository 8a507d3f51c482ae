"""What the pieces of the local suite (``oam up``) agree on without importing each other."""

ELASTICSEARCH_ADMIN_USER = "oam-admin"
"""The account the suite's own Elasticsearch gets when it runs with security (its password is a setting)."""
