"""authcore.records behaves as dataclasses does for what the layer uses of it: each case
declares one class both ways and compares what they do."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from authcore import records
from authcore.errors import FrozenInstanceError
from authcore.records import field, record


def _both(frozen: bool = True) -> tuple[type, type]:
    def declare(decorate):  # type: ignore[no-untyped-def]
        class Account:
            kind: ClassVar[str] = "not a field"
            name: str
            secret: str = decorate.field(default="s3cret", repr=False)
            roles: frozenset[str] = decorate.field(default_factory=frozenset, hash=False)
            tags: list[str] = decorate.field(default_factory=list)
            count: int = 0

            def shout(self) -> str:
                return self.name.upper()

        return Account

    made = declare(records)
    made = record(frozen=frozen)(made)
    reference = dataclasses.dataclass(frozen=frozen)(declare(dataclasses))
    return made, reference


def test_init_defaults_and_factories_are_dataclasses():
    made, reference = _both()
    for cls in (made, reference):
        plain = cls("ann")
        assert (plain.name, plain.secret, plain.roles, plain.tags, plain.count) == (
            "ann",
            "s3cret",
            frozenset(),
            [],
            0,
        )
        assert plain.shout() == "ANN"
        assert cls.kind == "not a field"
        # A factory makes a new value for each record, never one shared default.
        assert cls("a").tags is not cls("b").tags
        positional = cls("bob", "x", frozenset({"admin"}), ["t"], 3)
        assert positional == cls(name="bob", secret="x", roles={"admin"}, tags=["t"], count=3)
        with pytest.raises(TypeError):
            cls()
        with pytest.raises(TypeError):
            cls("ann", unknown=1)
    # The class keeps a field's plain default, as dataclasses leaves it.
    assert made.secret == reference.secret == "s3cret"
    assert made.count == reference.count == 0


def test_equality_hash_and_repr_are_dataclasses():
    made, reference = _both()
    for cls in (made, reference):
        one = cls("ann", roles={"a"}, tags=("t",))
        assert one == cls("ann", roles={"a"}, tags=("t",))
        assert one != cls("bob", roles={"a"}, tags=("t",))
        assert one != ("ann",)
        # roles is left out of the hash, never out of the equality.
        assert hash(one) == hash(cls("ann", roles={"b"}, tags=("t",)))
        assert one != cls("ann", roles={"b"}, tags=("t",))
        assert hash(one) != hash(cls("ann", roles={"a"}, tags=("t",), count=1))
    # The same qualified name (one declaration): the same text, the secret left out.
    assert repr(made("ann", tags=["t"])) == repr(reference("ann", tags=["t"]))
    assert "s3cret" not in repr(made("ann"))
    assert "roles=frozenset()" in repr(made("ann"))


@pytest.mark.parametrize("fields", [0, 1, 2])
def test_records_of_no_one_or_two_fields_compare_and_hash_as_dataclasses(fields):
    """``attrgetter`` answers a bare value for one name and needs at least one: each size
    must still compare and hash its fields as a tuple, as dataclasses does."""
    names = ("a", "b")[:fields]
    made = record(type("Small", (), {"__annotations__": dict.fromkeys(names, "int")}))
    reference = dataclasses.dataclass(frozen=True)(
        type("Small", (), {"__annotations__": dict.fromkeys(names, "int")})
    )
    for cls in (made, reference):
        values = range(1, fields + 1)
        one = cls(*values)
        assert one == cls(*values)
        assert hash(one) == hash(tuple(values))
        if fields:
            assert one != cls(*(v + 1 for v in values))
    assert repr(made(*range(fields))) == repr(reference(*range(fields)))


def test_a_frozen_record_refuses_every_assignment():
    made, _ = _both()
    account = made("ann")
    with pytest.raises(FrozenInstanceError, match="'name'"):
        account.name = "eve"
    with pytest.raises(AttributeError):
        account.anything = 1
    with pytest.raises(FrozenInstanceError):
        del account.count
    assert account.name == "ann"


def test_a_mutable_record_assigns_and_is_unhashable_as_dataclasses():
    made, reference = _both(frozen=False)
    for cls in (made, reference):
        account = cls("ann")
        account.count = 5
        assert account.count == 5
        with pytest.raises(TypeError):
            hash(account)


def test_replace_and_asdict_are_dataclasses():
    made, reference = _both()
    for cls, replace, asdict in (
        (made, records.replace, records.asdict),
        (reference, dataclasses.replace, dataclasses.asdict),
    ):
        before = cls("ann", tags=["t"])
        after = replace(before, count=2)
        assert (after.name, after.count, before.count) == ("ann", 2, 0)
        assert asdict(after) == {
            "name": "ann",
            "secret": "s3cret",
            "roles": frozenset(),
            "tags": ["t"],
            "count": 2,
        }
        with pytest.raises(TypeError):
            replace(before, unknown=1)
    with pytest.raises(AttributeError):
        records.asdict(object())


def test_own_repr_is_kept():
    @record(repr=False)
    class Token:
        value: str

        def __repr__(self) -> str:
            return "Token(...)"

    assert repr(Token("secret")) == "Token(...)"


def test_declarations_dataclasses_refuse_are_refused():
    with pytest.raises(TypeError, match="follows a default"):

        @record
        class Bad:
            a: int = 0
            b: int

    with pytest.raises(TypeError, match="mutable default"):

        @record
        class Shared:
            items: list[str] = []  # noqa: RUF012 - the declaration refused

    with pytest.raises(TypeError, match="both"):
        field(default=1, default_factory=list)

    @record
    class Base:
        a: int

    with pytest.raises(TypeError, match="inherit"):

        @record
        class Child(Base):
            b: int


def test_the_layer_declares_its_records_with_records():
    """The point of the module: no class of the layer is a dataclass, whose making (and
    import) a cold start would pay again."""
    import importlib
    import pkgutil

    import authcore

    found = []
    for info in pkgutil.walk_packages(authcore.__path__, "authcore."):
        module = importlib.import_module(info.name)
        found += [
            f"{info.name}.{name}"
            for name, value in vars(module).items()
            if isinstance(value, type)
            and value.__module__ == info.name
            and dataclasses.is_dataclass(value)
        ]
    assert not found
    # And the check sees records: the layer has some.
    assert hasattr(authcore.config.Settings, "__record_fields__")
