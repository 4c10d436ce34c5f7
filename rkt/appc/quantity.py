"""Kubernetes-style resource quantities, as appc's resource isolators write them.

A quantity is a decimal number with an optional suffix: binary (`Ki` .. `Ei`), decimal (`n`, `u`,
`m`, `k`, `M` .. `E`) or an exponent (`1e3`). appc copied the k8s parser, so we accept exactly
its grammar (lowercase `k` only) and return an exact `Fraction` of base units.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
# The exponent alternative comes before the bare `E` (exa) suffix so `1E3` is 1000, not an error.
_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"([eE][+-]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)"
)
# Far beyond any real resource, and small enough that Fraction arithmetic stays instant.
_MAX_LENGTH = 64
_MAX_EXPONENT = 64


class QuantityError(ValueError):
    """The text is not a k8s quantity; the message says why."""


def parse_quantity(text: str) -> Fraction:
    """`"500m"` -> Fraction(1, 2); `"1Gi"` -> 1073741824. Raises QuantityError."""
    if not isinstance(text, str):
        raise QuantityError("must be a string")
    if len(text) > _MAX_LENGTH:
        raise QuantityError("is too long")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a quantity (like 500m, 128Mi, 1G, 0.5)")
    number, suffix = match.groups()
    value = Fraction(number)
    if suffix[:1] in ("e", "E") and suffix not in _BINARY and len(suffix) > 1:
        exponent = int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise QuantityError(f"{text!r}: exponent out of range")
        return value * Fraction(10) ** exponent
    return value * (_BINARY.get(suffix) or _DECIMAL[suffix])


def quantity_from_json(value: object) -> Fraction:
    """A quantity as JSON holds it: a string, or a bare number (k8s strips the quotes)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError("must be a quantity string such as \"128Mi\"")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError("must be finite")
        value = repr(value)
    elif isinstance(value, int):
        value = str(value)
    return parse_quantity(value)
