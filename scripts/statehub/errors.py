"""Every exception the data tools raise to say "refused": bad input or an unsafe request, nothing touched."""

from __future__ import annotations


class Refused(Exception):
    """Bad input or an unsafe request: nothing was touched. The message names the value and the fix."""
