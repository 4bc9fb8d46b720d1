"""How one setting is declared: its help text, flag, value parser and limits, in field metadata.

A settings group (see :mod:`healthgate_operator.config`) is a frozen dataclass whose fields are
made by :func:`setting`. Everything the command line needs is read from there, so a flag is
written once: :func:`build_parser` adds every field in one loop, :func:`parse` reads a flag or
its variable through the same conversion, and :class:`Group` checks every field's limits when
a group is built, whether from the command line, a ``HEALTHGATE_*`` variable or a test's own
constructor call. A value out of range is an error naming the flag, never silently clamped.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn


class SettingError(ValueError):
    """A setting's value is refused; the message starts with the flag (``--sidecar-port: ...``)."""


class UsageExit(SystemExit):
    """A refused command line: exit code 2 as argparse's, the message kept (tests read it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 2


@dataclass(frozen=True)
class Option:
    """The command-line side of one setting (a field's ``metadata["option"]``)."""

    help: str
    """The ``--help`` text: what it is for, its unit and why it exists."""
    flag: str = ""
    """The long flag; empty: the group's prefix followed by the field name (``--webhook-port``)."""
    short: str = ""
    """A one-letter alias (``-n``), or none."""
    parse: Callable[[str], Any] | None = None
    """Text to value; None: derived from the field's type (int, float, str, Path, tuple)."""
    check: Limit | None = None
    """The value's limits, checked whenever the group is built."""
    choices: tuple[str, ...] = ()
    """The only accepted values, when there are few (``--help`` lists them)."""
    exclusive: str = ""
    """Settings sharing this name are alternatives: at most one on the command line."""
    repeat: bool = False
    """The flag may be given several times; each adds one item (``-n a -n b``)."""
    shown: str = ""
    """The default as ``--help`` shows it, when the field's default does not say it."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    **option: Any,
) -> Any:
    """A dataclass field documented for the command line (keywords as :class:`Option`)."""
    meta = {"option": Option(**option)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class Limit:
    """The values a setting accepts, said once for the error and for the reference."""

    text: str
    """``within 0-65535``: completes "must be ..." and the reference's Accepted column."""
    accepts: Callable[[Any], bool]

    def problem(self, value: Any) -> str | None:
        return None if self.accepts(value) else f"must be {self.text}"


def within(low: float, high: float) -> Limit:
    return Limit(f"within {low}-{high}", lambda value: low <= value <= high)


def at_least(low: int) -> Limit:
    return Limit(f"at least {low}", lambda value: value >= low)


def above(low: float) -> Limit:
    return Limit(f"above {low:g}", lambda value: value > low)


def one_of(choices: Sequence[str]) -> Limit:
    return Limit(f"one of {', '.join(choices)}", lambda value: value in choices)


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b,,c`` -> ``("a", "b", "c")``: blanks and empty items are dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes")


_PARSERS: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str, Path: Path}


def parser_of(kind: Any, option: Option) -> Callable[[str], Any]:
    """How the text of a flag or variable becomes the field's value."""
    if option.parse is not None:
        return option.parse
    if kind is bool:
        return _truthy
    if typing.get_origin(kind) is tuple:
        return comma_list
    optional = [k for k in typing.get_args(kind) if k is not type(None)]
    return _PARSERS[optional[0] if len(optional) == 1 else kind]


@dataclass(frozen=True)
class Spec:
    """One setting as the command line sees it: where it lives and how it reads."""

    group: str
    name: str
    flag: str
    option: Option
    kind: Any
    default: Any

    @property
    def dest(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def variable(self) -> str:
        return "HEALTHGATE_" + self.flag.removeprefix("--").upper().replace("-", "_")

    @property
    def limit(self) -> Limit | None:
        if self.option.choices:
            return one_of(self.option.choices)
        return self.option.check

    @property
    def metavar(self) -> str:
        return self.flag.removeprefix("--").upper().replace("-", "_")

    @property
    def help(self) -> str:
        return self.option.help.replace("%", "%%")  # argparse formats help with %

    @property
    def shown(self) -> str:
        if self.option.shown:
            return self.option.shown
        if isinstance(self.default, tuple):
            return ",".join(self.default)
        return str(self.default)

    def read(self, given: str | list[str], *, source: str = "") -> Any:
        """The value of a flag's text (a list when repeated), or of the variable ``source``."""
        if isinstance(given, list):
            return tuple(given)
        try:
            return parser_of(self.kind, self.option)(given)
        except ValueError as exc:
            where = f"{self.flag} (from {source})" if source else self.flag
            why = str(exc) if self.option.parse else f"invalid value {given!r}"
            raise SettingError(f"{where}: {why}") from None


class Group:
    """Base of a settings group: checks every field's limits once the group is built."""

    PREFIX: typing.ClassVar[str] = ""
    """Prepended to a field's name to make its flag (``webhook-`` + ``port``)."""

    def __post_init__(self) -> None:
        for spec in specs(type(self)):
            value = getattr(self, spec.name)
            limit = spec.limit
            problem = None if limit is None or value is None else limit.problem(value)
            if problem is not None:
                raise SettingError(f"{spec.flag}: {problem}")


def specs(group: type[Any], name: str = "") -> Iterator[Spec]:
    """The settings of a group class, in declaration order."""
    hints = typing.get_type_hints(group)
    prefix = getattr(group, "PREFIX", "")
    for item in dataclasses.fields(group):
        option = item.metadata["option"]
        flag = option.flag or f"--{prefix}{item.name.replace('_', '-')}"
        default = item.default
        if default is dataclasses.MISSING and item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        yield Spec(name, item.name, flag, option, hints[item.name], default)


def groups(root: type[Any]) -> dict[str, type[Group]]:
    """The settings groups of a root settings class, by attribute name."""
    hints = typing.get_type_hints(root)
    return {item.name: hints[item.name] for item in dataclasses.fields(root)}


def all_specs(root: type[Any]) -> Iterator[Spec]:
    for name, group in groups(root).items():
        yield from specs(group, name)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """argparse's usage error (exit code 2), keeping the message in the exception."""
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise UsageExit(message)


def _add(parser: argparse.ArgumentParser, target: Any, spec: Spec) -> None:
    names = [name for name in (spec.option.short, spec.flag) if name]
    if spec.kind is bool:
        target.add_argument(
            *names,
            dest=spec.dest,
            action="store_const",
            const="true",
            default=argparse.SUPPRESS,
            help=spec.help,
        )
        return
    target.add_argument(
        *names,
        dest=spec.dest,
        action="append" if spec.option.repeat else "store",
        default=argparse.SUPPRESS,
        choices=spec.option.choices or None,
        metavar=None if spec.option.choices else spec.metavar,
        help=f"{spec.help} (default: {spec.shown})",
    )


def build_parser(
    root: type[Any], *, prog: str, version: str, description: str
) -> argparse.ArgumentParser:
    """A command line with one flag per setting of ``root``, all added in one loop.

    Nothing is converted or defaulted here (every default is SUPPRESS): :func:`parse` reads the
    texts, so a flag and its variable go through the same conversion and the same limits.
    """
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=version)
    alternatives: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for spec in all_specs(root):
        target: Any = parser
        if spec.option.exclusive:
            if spec.option.exclusive not in alternatives:
                alternatives[spec.option.exclusive] = parser.add_mutually_exclusive_group()
            target = alternatives[spec.option.exclusive]
        _add(parser, target, spec)
    return parser


def _values(
    root: type[Any], given: dict[str, Any], environ: Mapping[str, str]
) -> Iterator[tuple[Spec, Any]]:
    """Each set setting and its value: from the command line, else from its variable.

    A variable yields to its alternatives given as flags: ``-A`` ignores HEALTHGATE_NAMESPACE.
    """
    everything = list(all_specs(root))
    flagged = {s.option.exclusive for s in everything if s.dest in given and s.option.exclusive}
    for spec in everything:
        if spec.dest in given:
            yield spec, spec.read(given[spec.dest])
        elif (text := environ.get(spec.variable)) and spec.option.exclusive not in flagged:
            yield spec, spec.read(text, source=spec.variable)


def parse(
    root: type[Any],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    *,
    complete: Callable[[dict[str, dict[str, Any]]], None] = lambda chosen: None,
) -> Any:
    """``root`` built from ``argv`` and ``environ``; ``complete`` may add derived defaults.

    Every refused value, whether argparse's or a group's limit, ends in ``parser.error``: the
    usage, the message naming the flag, exit code 2, no traceback.
    """
    given = vars(parser.parse_args(argv))
    kinds = groups(root)
    chosen: dict[str, dict[str, Any]] = {name: {} for name in kinds}
    try:
        for spec, value in _values(root, given, environ):
            chosen[spec.group][spec.name] = value
        complete(chosen)
        return root(**{name: kinds[name](**values) for name, values in chosen.items()})
    except SettingError as exc:
        parser.error(str(exc))
