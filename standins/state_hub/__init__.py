"""A stand-in State Hub: a small FastAPI app over the synthetic schema, with its Alembic migration.

Not the product and not the real State Hub: it serves what the workplan says the real one serves
(`/state/health`, `/state/summary`, reads of workstreams, repos and token totals) so that the API
side of the evidence and the rehearsal's front door meet a real HTTP service over a real database.
"""
