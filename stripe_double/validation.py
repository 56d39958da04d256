"""Parameter validation as Stripe does it, each check answering Stripe's 400 (`StripeApiError`) for what Stripe
refuses: unknown names, names the double does not model, wrong types, lengths, enums, metadata limits, expansions.

Used as `check.string(...)`, `check.enum(...)`: the module is the verb.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from stripe_double.errors import invalid, missing, unknown, unsupported
from stripe_double.vocabulary import EXPANDABLE, SUPPORTED_CURRENCIES

RANGE_OPERATORS = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}


def one_of(values: Iterable[str]) -> str:
    items = list(values)
    return ", ".join(items[:-1]) + f", or {items[-1]}" if len(items) > 1 else items[0]


def show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def known(params: Mapping[str, Any], names: frozenset[str], modeled: frozenset[str], prefix: str = "") -> None:
    """400 for names Stripe does not know (`names`), and for names the double does not model."""
    for key in params:
        name = f"{prefix}[{key}]" if prefix else key
        if key not in names:
            raise unknown(name)
        if key not in modeled:
            raise unsupported(name)


def required(params: Mapping[str, Any], key: str, prefix: str = "") -> Any:
    if params.get(key) in (None, ""):
        raise missing(f"{prefix}[{key}]" if prefix else key)
    return params[key]


def string(value: Any, param: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {show(value)}", param)
    if max_length is not None and len(value) > max_length:
        raise invalid(f"This value must be {max_length} characters or fewer.", param, "string_length")
    return value


def integer(value: Any, param: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]+", value.strip()):
        raise invalid(f"Invalid integer: {show(value)}", param, "parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param)
    if maximum is not None and number > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", param)
    return number


def enum(value: Any, allowed: Iterable[str], param: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise invalid(f"Invalid {param}: must be one of {one_of(allowed)}", param)
    return typing.cast(str, value)


def enum_list(value: Any, allowed: Iterable[str], param: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise invalid("Invalid array", param)
    return [enum(item, allowed, f"{param}[{i}]") for i, item in enumerate(value)]


def string_list(value: Any, param: str) -> list[str]:
    if not isinstance(value, list):
        raise invalid("Invalid array", param)
    return [string(item, f"{param}[{i}]") for i, item in enumerate(value)]


def metadata(value: Any, param: str) -> dict[str, str]:
    """Validate metadata the way Stripe does; empty values mean "unset"."""
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", param)
    if len(value) > 50:
        raise invalid("You can have up to 50 metadata keys.", param)
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"Invalid string: {show(item)}", f"{param}[{key}]")
        if len(key) > 40:
            raise invalid(
                "Metadata keys can have up to 40 characters, but you passed in a key "
                f"that is {len(key)} characters. Invalid key: {key}",
                param,
            )
        if len(item) > 500:
            raise invalid(
                "Metadata values can have up to 500 characters, but you passed in a "
                f"value that is {len(item)} characters. Invalid value: {item}",
                f"{param}[{key}]",
            )
        if item:
            result[key] = item
    return result


def url(value: Any, param: str) -> str:
    text = string(value, param)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid("Not a valid URL", param, "url_invalid")
    return text


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email(value: Any, param: str) -> str:
    text = string(value, param, max_length=512)
    if not _EMAIL_RE.match(text):
        raise invalid(f"Invalid email address: {text}", param, "email_invalid")
    return text


def currency(value: Any, param: str) -> str:
    code = string(value, param).lower()
    if code not in SUPPORTED_CURRENCIES:
        raise invalid(
            f"Invalid currency: {value}. Stripe currently supports these currencies: "
            + ", ".join(sorted(SUPPORTED_CURRENCIES)),
            param,
        )
    return code


def in_range(value: int, condition: Any, param: str) -> bool:
    """A list filter on a timestamp: an exact integer, or a dict of gt / gte / lt / lte."""
    if not isinstance(condition, dict):
        return value == integer(condition, param)
    for operator, bound in condition.items():
        if operator not in RANGE_OPERATORS:
            raise unknown(f"{param}[{operator}]")
        if not RANGE_OPERATORS[operator](value, integer(bound, f"{param}[{operator}]")):
            return False
    return True


def expand_paths(params: Mapping[str, Any]) -> list[str]:
    if "expand" not in params:
        return []
    return string_list(params["expand"], "expand")


def expandable(kind: str, paths: Iterable[str]) -> None:
    """Reject expansions Stripe would reject, before any state is changed."""
    for path in paths:
        current = kind
        for part in path.split("."):
            if current.startswith("list:"):
                if part != "data":
                    hint = f" You may want to try expanding 'data.{path}' instead."
                    raise invalid(f"This property cannot be expanded ({path}).{hint}")
                current = current.removeprefix("list:")
                continue
            target = EXPANDABLE.get(current, {}).get(part)
            if target is None:
                raise invalid(f"This property cannot be expanded ({path}).")
            current = target


def optional_string(params: Mapping[str, Any], name: str, max_length: int, prefix: str = "") -> str | None:
    if params.get(name) in (None, ""):
        return None
    return string(params[name], f"{prefix}[{name}]" if prefix else name, max_length=max_length)


def decimal(value: Any, param: str) -> Decimal:
    try:
        number = Decimal(string(value, param))
    except InvalidOperation:
        raise invalid(f"Invalid decimal: {show(value)}", param) from None
    exponent = number.as_tuple().exponent
    if not number.is_finite() or number < 0 or (isinstance(exponent, int) and exponent < -12):
        raise invalid(f"Invalid decimal: {show(value)}", param)
    return number
