"""appc's name/value pairs: labels, annotations and environment variables.

They are named tuples, so `dict(app.environment)` and `label.name` both work; the list helpers
check what appc checks across a whole list (unique names, known os/arch, dated annotations).
"""

from __future__ import annotations

from collections import namedtuple

from rkt.appc import types as t
from rkt.appc.types import fields, join
from rkt.errors import ManifestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any, Iterable


class _Pair(namedtuple("_Pair", "name value")):
    """A `{"name": ..., "value": ...}` member; each kind checks its name its own way."""

    __slots__ = ()

    @classmethod
    def _parse(cls, obj: Any, path: str):
        f = fields(obj, path, ("name", "value"))
        name = cls._check_name(f.get("name", ""), join(path, "name"))
        return cls(name, t.string(f.get("value", ""), join(path, "value")))

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value}


class Label(_Pair):
    __slots__ = ()

    @staticmethod
    def _check_name(value: Any, path: str) -> str:
        if t.ac_identifier(value, path) == "name":
            raise ManifestError(path, 'a label must not be called "name"')
        return value


class Annotation(_Pair):
    __slots__ = ()
    _check_name = staticmethod(t.ac_identifier)


class EnvironmentVariable(_Pair):
    __slots__ = ()
    _check_name = staticmethod(t.environment_name)


def parse_labels(obj: dict, key: str, path: str) -> tuple[Label, ...]:
    labels = t.parse_list(obj, key, path, Label._parse, unique="label")
    t.os_arch(dict(labels), join(path, key))
    return labels


def parse_annotations(obj: dict, key: str, path: str) -> tuple[Annotation, ...]:
    annotations = t.parse_list(obj, key, path, Annotation._parse, unique="annotation")
    values = dict(annotations)
    where = {a.name: join(join(join(path, key), i), "value") for i, a in enumerate(annotations)}
    t.check_annotation_values(values, where)
    return annotations


def lookup(pairs: Iterable, name: str) -> str | None:
    for pair in pairs:
        if pair.name == name:
            return pair.value
    return None
