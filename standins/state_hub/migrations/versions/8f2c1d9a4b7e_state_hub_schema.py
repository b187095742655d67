"""The State Hub's schema as the synthetic data models it (standins.state_hub.synthetic.SCHEMA), in one revision.

Its id is synthetic.ALEMBIC_HEAD, so a migrated empty database and a seeded one carry the same revision.
"""

from __future__ import annotations

from alembic import op

from standins.state_hub.synthetic import ALEMBIC_HEAD, SCHEMA

revision = ALEMBIC_HEAD
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(SCHEMA)
