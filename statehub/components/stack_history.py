"""The outputs of the stack's last update, as the program can see them.

A program cannot see its previous state, but it may read any stack's outputs through the engine's
builtin `readStackOutputs` (what a StackReference does), its own included: the outputs of the last
completed update, none on a new stack. An invoke leaves nothing in the state. It is awaited in the
program's async entrypoint (`pulumi.run`): a blocking invoke pumps the event loop re-entrantly and,
under the mocks, now and then lost the stack's own outputs.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.runtime

DEPLOYED_OUTPUT = "dbRwService"
"""Exported exactly when the update rendered the database and the app (stage empty and later)."""
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


async def last_outputs() -> dict[str, Any]:
    own = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    value = await pulumi.runtime.invoke_async(READ_STACK_OUTPUTS, {"name": own})
    return dict((value or {}).get("outputs") or {})
