"""The stand-in State Hub's HTTP side; `DATABASE_URL` from the environment, like the real one."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from standins.state_hub import reads


def engine_url(database_url: str) -> str:
    """A libpq URL (`postgresql://...`, as the real State Hub is given) for SQLAlchemy's psycopg 3 driver."""
    scheme, _, rest = database_url.partition("://")
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError(f"DATABASE_URL scheme {scheme!r} is not PostgreSQL: give postgresql://user@host/db")
    return f"postgresql+psycopg://{rest}"


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="State Hub (stand-in)")

    def read(what: Callable[[Connection], Any]) -> Any:
        try:
            with engine.connect() as conn:
                return what(conn)
        except SQLAlchemyError:
            raise HTTPException(503, "database unreachable") from None

    @app.get("/state/health")
    def health() -> JSONResponse:
        try:
            read(reads.ping)
        except HTTPException:
            return JSONResponse({"status": "error", "db": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "db": "connected"})

    @app.get("/state/summary")
    def summary() -> Any:
        return read(reads.summary)

    @app.get("/state/workstreams/{workstream_id}")
    def workstream(workstream_id: int) -> Any:
        return _found(read(lambda conn: reads.workstream(conn, workstream_id)), f"workstream {workstream_id}")

    @app.get("/state/repos/{repo_id}")
    def repo(repo_id: int) -> Any:
        return _found(read(lambda conn: reads.repo(conn, repo_id)), f"repo {repo_id}")

    @app.get("/state/tokens")
    def tokens() -> Any:
        return read(reads.token_totals)

    return app


def _found(value: Any, what: str) -> Any:
    if value is None:
        raise HTTPException(404, f"no {what}")
    return value


def from_environment() -> FastAPI:
    """The app uvicorn serves (`--factory standins.state_hub.app:from_environment`)."""
    # pre-ping: a freeze or a restart ends pooled sessions; the next request must not fail on a dead one
    return create_app(create_engine(engine_url(os.environ["DATABASE_URL"]), pool_pre_ping=True, pool_size=2))
