"""Strict JSON parsing for untrusted provider data."""

import json
import math


class JSONObjectError(ValueError):
    """The data is not a single well-formed JSON object."""


def _reject_duplicate_names(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """Build an object, refusing repeated member names."""
    result = dict(pairs)
    # RFC 7515 §5.2 / RFC 7519 §4: reject duplicate names instead of guessing which one wins.
    if len(result) != len(pairs):
        raise JSONObjectError("duplicate member name")
    return result


def _reject_constant(name: str) -> object:
    """Refuse the non-standard NaN and Infinity literals."""
    # RFC 8259 §6: numeric values such as Infinity and NaN are not permitted.
    raise JSONObjectError(f"invalid literal {name}")


def _finite_float(text: str) -> float:
    """Parse a JSON number, refusing values that overflow to infinity."""
    value = float(text)
    # RFC 8259 §6: Infinity is not a JSON number; 1e999 must not become one.
    if not math.isfinite(value):
        raise JSONObjectError(f"number {text} is out of range")
    return value


def loads_object(data: bytes | str) -> dict[str, object]:
    """Parse `data` as a JSON object, raising `JSONObjectError` for anything else."""
    try:
        value: object = json.loads(
            data,
            object_pairs_hook=_reject_duplicate_names,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except JSONObjectError:
        raise
    except (ValueError, RecursionError) as err:
        raise JSONObjectError("malformed JSON") from err
    if not isinstance(value, dict):
        raise JSONObjectError("top-level JSON value is not an object")
    return value
