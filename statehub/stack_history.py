"""The outputs of the stack's last update, as the program can see them.

A program cannot see its previous state, but it may read any stack's outputs through the engine's
builtin `readStackOutputs` (what a StackReference does), its own included: the outputs of the last
completed update, none on a new stack. An invoke leaves nothing in the state. It is awaited in the
program's async entrypoint (`pulumi.run`): a blocking invoke pumps the event loop re-entrantly and,
under the mocks, now and then lost the stack's own outputs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pulumi
import pulumi.runtime

DEPLOYED_OUTPUT = "dbRwService"
"""Exported exactly when the update rendered the database and the app (stage empty and later)."""
STORAGE_OUTPUT = "dbStorageSize"
"""The volume size the last update asked for: a change is refused where the class cannot expand."""
MAJOR_OUTPUT = "dbMajor"
"""The PostgreSQL major the last update ran: a new one needs its decision and a fresh backup."""
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


TORN_READ = "failed to load checkpoint"
"""The file backend's answer when the invoke read the checkpoint while the engine was writing it (seen on
the engine tier, 1 run in 4, once the program asked while its first resources were being written)."""
READ_ATTEMPTS = 10


async def last_outputs() -> dict[str, Any]:
    own = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    attempt = 1
    while True:
        try:
            value = await pulumi.runtime.invoke_async(READ_STACK_OUTPUTS, {"name": own})
            return dict((value or {}).get("outputs") or {})
        except Exception as error:  # the SDK raises a bare Exception for a failed invoke
            if TORN_READ not in str(error) or attempt == READ_ATTEMPTS:
                raise
        attempt += 1
        await asyncio.sleep(0.2)
