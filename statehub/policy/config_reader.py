"""Typed reads of raw stack config values.

The engine hands a program every config value as a string (JSON text for arrays and
objects), so each read parses and validates one key and, on failure, raises a
`SettingsError` naming the key, the bad value and an example of a good one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from statehub.policy.refusal import SettingsError

ConfigGetter = Callable[[str], str | None]
"""Returns the raw value of a key of the `state-hub-infra` namespace, or None when unset."""

E = TypeVar("E", bound=str)

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
_QUANTITY_FACTORS: dict[str, Decimal | int] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def quantity_value(quantity: str) -> Decimal | None:
    """A Kubernetes quantity's value (`20Gi` and `21474836480` alike), None when it is not one."""
    found = _QUANTITY.match(quantity)
    if not found:
        return None
    suffix = found.group(2) or ""
    return Decimal(quantity.removesuffix(suffix)) * _QUANTITY_FACTORS[suffix]


@dataclass(frozen=True)
class ConfigReader:
    get: ConfigGetter

    def optional_string(self, key: str) -> str | None:
        value = self.get(key)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def string(self, key: str, *, example: str, needed_for: str) -> str:
        value = self.optional_string(key)
        if value is None:
            raise SettingsError(key, None, f"it is needed for {needed_for}", example)
        return value

    def integer(self, key: str, *, example: str, minimum: int, maximum: int) -> int:
        raw = self.string(key, example=example, needed_for="every stage")
        try:
            number = int(raw)
        except ValueError:
            raise SettingsError(key, raw, "it is not a whole number", example) from None
        if not minimum <= number <= maximum:
            raise SettingsError(key, raw, f"it must be between {minimum} and {maximum}", example)
        return number

    def boolean(self, key: str) -> bool:
        raw = self.string(key, example="true", needed_for="every stage")
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise SettingsError(key, raw, "it must be true or false", "true")
        return lowered == "true"

    def choice(self, key: str, options: Sequence[E], *, needed_for: str) -> E:
        raw = self.string(key, example=options[0], needed_for=needed_for)
        for option in options:
            if raw == option:
                return option
        raise SettingsError(key, raw, f"it must be one of {', '.join(options)}", options[0])

    def quantity(self, key: str, *, example: str) -> str:
        raw = self.string(key, example=example, needed_for="every stage")
        if not _QUANTITY.match(raw):
            raise SettingsError(key, raw, "it is not a Kubernetes quantity", example)
        return raw

    def namespace(self, key: str, *, example: str) -> str:
        raw = self.string(key, example=example, needed_for="every stage")
        if not DNS_LABEL.match(raw):
            raise SettingsError(key, raw, "it is not a valid namespace name (a DNS label)", example)
        return raw

    def optional_namespace(self, key: str, *, example: str) -> str | None:
        raw = self.optional_string(key)
        if raw is not None and not DNS_LABEL.match(raw):
            raise SettingsError(key, raw, "it is not a valid namespace name (a DNS label)", example)
        return raw

    def string_list(self, key: str, *, example: str) -> tuple[str, ...]:
        raw = self.get(key)
        if raw is None or raw.strip() == "":
            return ()
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise SettingsError(key, raw, "it is not a list", example, array=True) from None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise SettingsError(key, raw, "it must be a list of strings", example, array=True)
        return tuple(parsed)

    def string_map(self, key: str, *, example: str) -> dict[str, str]:
        """An object whose values are scalars, returned with every value as a string."""
        raw = self.get(key)
        if raw is None or raw.strip() == "":
            return {}
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            raise SettingsError(key, raw, "it is not an object", example) from None
        if not isinstance(parsed, dict) or any(
            isinstance(value, (dict, list)) or value is None for value in parsed.values()
        ):
            raise SettingsError(key, raw, "it must be an object of scalar values", example)
        return {str(name): _scalar_text(value) for name, value in parsed.items()}


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
