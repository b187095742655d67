"""A client of the OCI distribution API, for checking the pinned image is really there."""
