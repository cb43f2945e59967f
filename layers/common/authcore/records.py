"""Records: the layer's value classes, declared as dataclasses are, made at a fraction of
their cold start (issue #20).

``@record`` is ``@dataclass(frozen=True)`` for what the layer uses of it: an ``__init__``
taking the fields in order, positionally or by name; defaults and ``field(default_factory=)``;
assignment refused (``FrozenInstanceError``, an ``AttributeError``), or allowed with
``frozen=False``; ``==`` and ``hash`` over the fields (``field(hash=False)`` leaves one out of
the hash); a ``repr`` of the fields (``field(repr=False)`` leaves a secret out;
``record(repr=False)`` keeps the class's own). ``replace`` and ``asdict`` (shallow) are
``dataclasses``' functions of the same names. Type checkers read it as a dataclass
(PEP 681, ``dataclass_transform``).

Why not ``dataclasses``: on Python 3.11 and 3.12 each class costs 0.5-0.9 ms at import (one
``exec`` per generated method, and ``inspect.signature`` for a class without a docstring),
and ``import dataclasses`` brings ``inspect``, ``ast``, ``dis`` and ``tokenize`` (~8 ms).
A login's cold start made ~40 of them: ~25 ms on every first request. A record compiles
its ``__init__`` only (~0.1 ms); its other methods are closures over ``attrgetter``. This
module imports nothing but ``typing`` and ``operator`` (and the layer's errors).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

from authcore.errors import FrozenInstanceError, RecordDeclarationError

_T = TypeVar("_T")
_C = TypeVar("_C", bound=type)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Any = _Missing()


class _Field:
    __slots__ = ("default", "factory", "hash", "repr")

    def __init__(self, default: Any, factory: Any, repr: bool, hash: bool) -> None:
        self.default, self.factory, self.repr, self.hash = default, factory, repr, hash


@overload
def field(*, default: _T, repr: bool = True, hash: bool = True) -> _T: ...
@overload
def field(*, default_factory: Callable[[], _T], repr: bool = True, hash: bool = True) -> _T: ...
@overload
def field(*, repr: bool = True, hash: bool = True) -> Any: ...
def field(
    *,
    default: Any = _MISSING,
    default_factory: Any = _MISSING,
    repr: bool = True,
    hash: bool = True,
) -> Any:
    """A field's default, default factory (a new value for each record), and whether the
    ``repr`` shows it and the hash counts it."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise RecordDeclarationError("cannot specify both default and default_factory")
    return _Field(default, default_factory, repr, hash)


def _refuse_assignment(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_deletion(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _is_classvar(annotation: object) -> bool:
    # Annotations are strings under ``from __future__ import annotations``.
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return isinstance(text, str) and text.split("[", 1)[0] in ("ClassVar", "typing.ClassVar")


def _getter(names: list[str]) -> Callable[[object], tuple[Any, ...]]:
    """The named attributes of an object, as a tuple (``attrgetter`` gives a bare value
    for one name)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return lambda instance: ()


def _make(cls: type, frozen: bool, own_repr: bool) -> type:
    if any(hasattr(base, "__record_fields__") for base in cls.__mro__[1:]):
        raise RecordDeclarationError(f"{cls.__name__}: a record does not inherit another's fields")
    names: list[str] = []
    params: list[str] = []
    body: list[str] = []
    shown: list[str] = []
    hashed: list[str] = []
    scope: dict[str, Any] = {"_MISSING": _MISSING, "_set": object.__setattr__}
    # Not inspect.get_annotations: importing inspect is the cost this module avoids.
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    for name, annotation in annotations.items():
        if _is_classvar(annotation):
            continue
        spec = cls.__dict__.get(name, _MISSING)
        if not isinstance(spec, _Field):
            spec = _Field(spec, _MISSING, True, True)
        if spec.default is not _MISSING and type(spec.default).__hash__ is None:
            # As dataclasses: one list or dict would be shared by every record.
            msg = f"{cls.__name__}: mutable default for {name!r}: use default_factory"
            raise RecordDeclarationError(msg)
        if spec.factory is not _MISSING:
            scope[f"_factory_{name}"] = spec.factory
            params.append(f"{name}=_MISSING")
            value = f"_factory_{name}() if {name} is _MISSING else {name}"
        elif spec.default is not _MISSING:
            scope[f"_default_{name}"] = spec.default
            params.append(f"{name}=_default_{name}")
            value = name
        elif params and "=" in params[-1]:
            msg = f"{cls.__name__}: non-default field {name!r} follows a default one"
            raise RecordDeclarationError(msg)
        else:
            params.append(name)
            value = name
        # What dataclasses leaves on the class: the plain default, never a field spec.
        if spec.default is not _MISSING:
            setattr(cls, name, spec.default)
        elif name in cls.__dict__:
            delattr(cls, name)
        body.append(f"_set(self, {name!r}, {value})" if frozen else f"self.{name} = {value}")
        names.append(name)
        if spec.repr:
            shown.append(name)
        if spec.hash:
            hashed.append(name)

    # Only __init__ is compiled (a signature of the fields): the other methods are closures
    # over C getters, which no cold start compiles.
    exec(  # noqa: S102 - our own source, built from field names
        "\n".join(
            [
                f"def __init__(self, {', '.join(params)}):",
                *(f"    {line}" for line in body or ["pass"]),
            ]
        ),
        scope,
    )
    methods: dict[str, Callable[..., Any]] = {"__init__": scope["__init__"]}
    fields_of = _getter(names)

    def __eq__(self: object, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields_of(self) == fields_of(other)

    methods["__eq__"] = __eq__
    if not own_repr:

        def __repr__(self: object) -> str:
            parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{self.__class__.__qualname__}({parts})"

        methods["__repr__"] = __repr__
    if frozen:
        hashed_of = _getter(hashed)

        def __hash__(self: object) -> int:
            return hash(hashed_of(self))

        methods["__hash__"] = __hash__
    for name, method in methods.items():
        method.__qualname__ = f"{cls.__qualname__}.{name}"
        setattr(cls, name, method)
    if frozen:
        cls.__setattr__ = _refuse_assignment  # type: ignore[assignment, method-assign]
        cls.__delattr__ = _refuse_deletion  # type: ignore[assignment, method-assign]
    else:
        # Mutable and compared by value: unhashable, as dataclasses makes it.
        cls.__hash__ = None  # type: ignore[assignment, method-assign]
    cls.__record_fields__ = tuple(names)  # type: ignore[attr-defined]
    return cls


@overload
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: _C, /) -> _C: ...
@overload
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(*, frozen: bool = True, repr: bool = True) -> Callable[[_C], _C]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(
    cls: _C | None = None, /, *, frozen: bool = True, repr: bool = True
) -> _C | Callable[[_C], _C]:
    """Make ``cls`` a record (see the module's docstring)."""

    def make(target: _C) -> _C:
        return _make(target, frozen, own_repr=not repr)  # type: ignore[return-value]

    return make if cls is None else make(cls)


def replace(instance: _T, /, **changes: Any) -> _T:
    """A copy of ``instance`` with ``changes`` (``dataclasses.replace``); a name that is
    not a field is refused by the record's ``__init__``, a ``TypeError``."""
    return type(instance)(**{**asdict(instance), **changes})


def asdict(instance: object) -> dict[str, Any]:
    """The fields of ``instance`` by name (shallow: the layer's records are flat); an
    ``AttributeError`` if it is not a record."""
    names: tuple[str, ...] = type(instance).__record_fields__  # type: ignore[attr-defined]
    return {name: getattr(instance, name) for name in names}
