"""The stand-in State Hub's HTTP side; `DATABASE_URL` from the environment, like the real one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
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
            raise HTTPException(503, "the database refused or is unreachable") from None

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

    @app.get("/state/workstreams/{key}")
    def workstream(key: str) -> Any:
        found = _key(key)
        return _found(read(lambda conn: reads.workstream(conn, found)), f"workstream {key}")

    @app.get("/state/tasks/{uid}")
    def task(uid: uuid.UUID) -> Any:
        return _found(read(lambda conn: reads.task(conn, uid)), f"task {uid}")

    @app.post("/state/tasks/{uid}/progress", status_code=201)
    def progress(uid: uuid.UUID, event: ProgressEvent) -> Any:
        added = read(lambda conn: reads.add_progress(conn, uid, event.kind, event.payload))
        return {"id": _found(added, f"task {uid}")}

    @app.get("/state/repos/{repo_id}")
    def repo(repo_id: int) -> Any:
        return _found(read(lambda conn: reads.repo(conn, repo_id)), f"repo {repo_id}")

    @app.get("/state/tokens")
    def tokens() -> Any:
        return read(reads.token_totals)

    return app


class ProgressEvent(BaseModel):
    """What a client records on a task: a kind (`evidence`, `note`, ...) and a JSON object."""

    kind: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any]


def _key(text: str) -> int | uuid.UUID:
    """A workstream is asked for by its number or its UUID (what workplan files name it by)."""
    if text.isdigit():
        return int(text)
    try:
        return uuid.UUID(text)
    except ValueError:
        raise HTTPException(422, f"{text!r} is neither a workstream number nor a UUID") from None


def _found(value: Any, what: str) -> Any:
    if value is None:
        raise HTTPException(404, f"no {what}")
    return value


def from_environment() -> FastAPI:
    """The app uvicorn serves (`--factory standins.state_hub.app:from_environment`)."""
    # pre-ping: a freeze or a restart ends pooled sessions; the next request must not fail on a dead one
    return create_app(create_engine(engine_url(os.environ["DATABASE_URL"]), pool_pre_ping=True, pool_size=2))
