"""rkt.record.Record keeps the frozen-dataclass semantics stage0's data relies on."""

from __future__ import annotations

import copy
import pickle
from typing import ClassVar

import pytest

from rkt.record import Record


class Point(Record):
    x: int
    y: int = 0
    kind: ClassVar[str] = "point"  # not a field


class Labelled(Point):
    label: str = ""
    y: int = 5  # a redefined field keeps its place


class Other(Record):
    x: int
    y: int = 0


def test_fields_come_from_annotations_in_order_base_first():
    assert Point._fields == ("x", "y")
    assert Labelled._fields == ("x", "y", "label")


def test_positional_keyword_and_default_values():
    assert Point(1, 2) == Point(x=1, y=2) == Point(1, y=2)
    assert Point(1).y == 0 and Labelled(1).y == 5 and Labelled(1).label == ""


@pytest.mark.parametrize("make, message", [
    (lambda: Point(), "missing field 'x'"),
    (lambda: Point(1, x=2), "unexpected or repeated field 'x'"),
    (lambda: Point(1, z=2), "unexpected or repeated field 'z'"),
    (lambda: Point(1, 2, 3), "takes 2 fields but 3 were given"),
])
def test_wrong_arguments_are_refused(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_instances_are_frozen():
    p = Point(1)
    with pytest.raises(AttributeError, match="cannot assign to field 'x'"):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot assign"):
        p.new = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="cannot delete"):
        del p.x
    assert p == Point(1, 0)


def test_equality_and_hash_by_value_within_one_class():
    assert Point(1, 2) == Point(1, 2) and hash(Point(1, 2)) == hash(Point(1, 2))
    assert Point(1, 2) != Point(1, 3)
    assert Point(1, 2) != Other(1, 2)  # same values, another class: as dataclasses
    assert Point(1, 2) != (1, 2)
    assert len({Point(1), Point(1), Point(2)}) == 2
    with pytest.raises(TypeError):
        hash(Other(1, [2]))  # an unhashable field makes an unhashable record, as dataclasses


def test_repr_names_every_field():
    assert repr(Labelled(1, label="a")) == "Labelled(x=1, y=5, label='a')"


def test_replace_makes_a_changed_copy():
    p = Labelled(1, label="a")
    q = p.replace(label="b")
    assert (p.label, q.label, q.x, q.y, type(q)) == ("a", "b", 1, 5, Labelled)
    with pytest.raises(TypeError, match="'z'"):
        p.replace(z=1)


def test_copy_and_pickle_keep_value_and_class():
    p = Labelled(1, label="a")
    assert copy.copy(p) == p and copy.deepcopy(p) == p
    assert pickle.loads(pickle.dumps(p)) == p


class Derived(Record):
    items: list = []
    tags: dict = {}

    def __post_init__(self) -> None:
        object.__setattr__(self, "count", len(self.items))  # no field: not compared or shown


def test_mutable_defaults_are_per_instance_and_post_init_derives():
    a, b = Derived(), Derived()
    a.items.append(1)
    assert b.items == [] and Derived().tags == {} and Derived().tags is not Derived().tags
    assert Derived([1, 2]).count == 2 and Derived([1, 2]).replace(items=[3]).count == 1
    assert Derived([1]) == Derived([1]) and repr(Derived([1])) == "Derived(items=[1], tags={})"
