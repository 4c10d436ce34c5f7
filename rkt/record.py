"""Frozen records: stage0's plain immutable data (pod specs, global options, flag tables).

A frozen dataclass would do the same job, but `dataclasses` writes each class's methods with
exec() and imports inspect, ast, dis and tokenize: ~15 ms of every `rkt run` before any work.
A `Record` reads its fields from the class annotations once and shares one generic set of
methods, so defining one costs microseconds. Off the run path, frozen dataclasses remain fine.
"""

from __future__ import annotations


_MUTABLE = (list, dict, set)


class Record:
    """Base of a frozen record. Fields are the subclass's annotations, in order, a base class's
    first; a class-level value is the field's default, copied for each instance when it is a
    list, dict or set (as a dataclass `default_factory`). Instances take fields by position or
    keyword, refuse assignment, compare equal to records of the same class with equal fields, hash
    by value, and `replace(**changes)` makes a changed copy (as `dataclasses.replace`); a
    `__post_init__` runs after the fields are set. `_fields` names the fields."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        # annotations are strings (`from __future__ import annotations`): ClassVar is no field
        own = [name for name, kind in cls.__dict__.get("__annotations__", {}).items()
               if not str(kind).startswith(("ClassVar", "typing.ClassVar"))]
        cls._fields = (*cls._fields, *[name for name in own if name not in cls._fields])

    def __init__(self, *args, **kwargs) -> None:
        cls = type(self)
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError(f"{cls.__name__}() takes {len(fields)} fields but {len(args)} were given")
        values = dict(zip(fields, args))
        for name, value in kwargs.items():
            if name in values or name not in fields:
                raise TypeError(f"{cls.__name__}() got an unexpected or repeated field {name!r}")
            values[name] = value
        if len(values) < len(fields):
            for name in fields:
                if name not in values:
                    try:
                        default = getattr(cls, name)
                    except AttributeError:
                        raise TypeError(f"{cls.__name__}() missing field {name!r}") from None
                    values[name] = default.copy() if type(default) in _MUTABLE else default
        self.__dict__.update(values)
        self.__post_init__()

    def __post_init__(self) -> None:
        """Derive or normalise values after __init__, as in a dataclass; being frozen, assign
        with `object.__setattr__(self, name, value)`. An attribute that is no field (no
        annotation) takes no part in ==, hash, repr or replace()."""

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def _values(self) -> tuple:
        return tuple([self.__dict__[name] for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def replace(self, **changes):
        """A copy with `changes` applied to the named fields."""
        return type(self)(**{**{name: self.__dict__[name] for name in self._fields}, **changes})
