"""Alembic's environment for the stand-in: online migrations only, against `DATABASE_URL`."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from standins.state_hub.app import engine_url

with create_engine(engine_url(os.environ["DATABASE_URL"])).connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
