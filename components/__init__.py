"""The stack's Pulumi ComponentResources (database, app, front door, backups, image, namespaces) and the
small helpers only they use (NetworkPolicy peers, the provider); the program (`__main__.py`) composes them."""
