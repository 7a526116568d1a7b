"""Command-line options generated from config dataclasses, and `--config FILE` under the command line.

Every setting is declared once, as a dataclass field with its default and, in the field's
metadata, what the command line needs (plain keys, so the dataclasses import nothing from here):

    help     the option's help text
    flag     its name on the command line where it differs from the field's (`--epochs`; for a
             boolean, the whole `--on/--off` pair)
    min, max bounds (checked by click on the command line, here for config files)
    choices  the allowed values (listed in the help; the dataclass itself rejects others)
    argument True: a positional argument (a `list[Path]` one takes any number)
    cli      False: not an option (set by the command, e.g. LoopConfig.env_id)

`options_command(name, *dataclasses)` turns a function of one `Options` into a typer command whose
options are those fields (a name shared by two dataclasses is one option feeding both), plus
`--config FILE`: a TOML file, or a checkpoint version whose metadata stored the run's options.
Precedence: the command line, then the file, then the defaults.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import tomllib
import types
import typing
from dataclasses import MISSING
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

CONFIG_HELP = "TOML file of options (keys: option names; the command line overrides it), or a checkpoint version to re-run."


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One command-line option (or argument), made from a dataclass field."""

    name: str  # the field's name: the Python name every consumer uses
    kind: type  # bool, int, float, str or Path (a list argument: the item type)
    default: Any  # MISSING: required (checked after --config is merged)
    help: str = ""
    flag: str = ""  # "--epochs" or "--greedy/--sampled"
    optional: bool = False  # None is a value (e.g. "as logged")
    many: bool = False  # a list argument
    argument: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple = ()

    @property
    def key(self) -> str:
        """The option's name in a config file: its flag, underscored (`epochs`, `minibatch_size`)."""
        return self.flag.split("/")[0].removeprefix("--").replace("-", "_") if self.flag else self.name

    @property
    def required(self) -> bool:
        return self.default is MISSING

    def parameter(self) -> inspect.Parameter:
        """The typer parameter: never required by click, so that --config can supply it."""
        help_text = self.help + (f" One of: {', '.join(map(str, self.choices))}." if self.choices else "")
        help_text += " [required]" if self.required else ""
        default = None if self.required or self.many else self.default
        annotation: Any = List[self.kind] if self.many else self.kind
        if self.optional or self.required or self.many:
            annotation = Optional[annotation]
        if self.argument:
            info = typer.Argument(default, help=help_text, show_default=not self.many and default is not None)
        else:
            bounds = {"min": self.min, "max": self.max} if self.kind in (int, float) else {}
            info = typer.Option(default, self.flag, help=help_text, show_default=default is not None, **bounds)
        return inspect.Parameter(self.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def option_specs(*configs: type, defaults: dict | None = None, flags: dict | None = None, exclude: typing.Iterable[str] = ()) -> list[OptionSpec]:
    """The options of `configs`' fields, in order; `defaults`, `flags` and `exclude` adapt them to one command."""
    defaults, flags, exclude = defaults or {}, flags or {}, set(exclude)
    specs: dict[str, OptionSpec] = {}
    for config in configs:
        hints = typing.get_type_hints(config)
        for field in dataclasses.fields(config):
            meta = field.metadata
            if meta.get("cli", True) is False or field.name in exclude:
                continue
            spec = _spec(field, hints[field.name], defaults, flags)
            known = specs.get(spec.name)
            if known is None:
                specs[spec.name] = spec
            elif (known.kind, known.many) != (spec.kind, spec.many):
                raise TypeError(f"option {spec.name!r} is a {known.kind.__name__} in one config and a {spec.kind.__name__} in another")
    unknown = (set(defaults) | set(flags)) - set(specs)
    if unknown:
        raise TypeError(f"defaults or flags for options that do not exist: {', '.join(sorted(unknown))}")
    return list(specs.values())


def _spec(field: dataclasses.Field, hint: Any, defaults: dict, flags: dict) -> OptionSpec:
    kind, optional, many = _unwrap(hint)
    meta = field.metadata
    if field.name in defaults:
        default = defaults[field.name]
    elif field.default is not MISSING:
        default = field.default
    elif field.default_factory is not MISSING:
        default = field.default_factory()
    else:
        default = MISSING
    flag = flags.get(field.name) or meta.get("flag") or "--" + field.name.replace("_", "-")
    if kind is bool and "/" not in flag:
        flag = f"{flag}/--no-{flag.removeprefix('--')}"
    return OptionSpec(
        name=field.name, kind=kind, default=default, help=meta.get("help", ""), flag=flag, optional=optional, many=many,
        argument=bool(meta.get("argument")), min=meta.get("min"), max=meta.get("max"), choices=tuple(meta.get("choices", ())),
    )


def _unwrap(hint: Any) -> tuple[type, bool, bool]:
    """(item type, None allowed, is a list) of a field's type: int, float | None, list[Path]..."""
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = len(members) < len(typing.get_args(hint)), members[0]
    if typing.get_origin(hint) in (list, tuple):
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


class Options:
    """The effective options of one run of a command: the command line over --config over the defaults."""

    def __init__(self, command: str, specs: list[OptionSpec], values: dict[str, Any]):
        self.command = command
        self._specs = {spec.name: spec for spec in specs}
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def build(self, config: type, **fixed: Any):
        """An instance of `config` from the options among its fields (others keep their defaults), plus `fixed`."""
        names = {f.name for f in dataclasses.fields(config)}
        return config(**{name: value for name, value in self._values.items() if name in names}, **fixed)

    def replace(self, **changes: Any) -> "Options":
        return Options(self.command, list(self._specs.values()), {**self._values, **changes})

    def record(self) -> dict:
        """The run as plain data (JSON and TOML): the command and every option set, paths as strings."""
        run: dict[str, Any] = {"command": self.command}
        for name, spec in self._specs.items():
            value = self._values.get(name)
            if value is None:
                continue  # TOML has no null; a missing key is the default again
            run[spec.key] = [str(v) for v in value] if spec.many else str(value) if isinstance(value, Path) else value
        return run


def options_command(command: str, *configs: type, defaults: dict | None = None, flags: dict | None = None,
                    exclude: typing.Iterable[str] = ()) -> Callable[[Callable[[Options], Any]], Callable]:
    """Decorator: `func(options)` becomes a typer command whose options are `configs`' fields plus --config."""
    specs = option_specs(*configs, defaults=defaults, flags=flags, exclude=exclude)

    def wrap(func: Callable[[Options], Any]) -> Callable:
        def run_command(context: typer.Context, **given: Any) -> Any:
            from vlm_agent.cli.main import user_errors

            with user_errors():
                options = resolve(command, specs, given, _from_command_line(context, given))
            return func(options)

        parameters = [inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
        parameters += [spec.parameter() for spec in specs]
        parameters.append(inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                                            default=typer.Option(None, "--config", help=CONFIG_HELP)))
        run_command.__signature__ = inspect.Signature(parameters)
        run_command.__annotations__ = {p.name: p.annotation for p in parameters}
        run_command.__name__, run_command.__qualname__, run_command.__doc__ = func.__name__, func.__qualname__, func.__doc__
        run_command.__module__ = func.__module__
        run_command.option_specs = specs
        return run_command

    return wrap


def _from_command_line(context: typer.Context, given: dict) -> set[str]:
    """The parameters the user typed (click knows each value's source; an empty list argument counts as untyped)."""
    typed = {name for name, value in given.items() if value is not None and value != () and value != []}
    return {name for name in typed if getattr(context.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"}


def resolve(command: str, specs: list[OptionSpec], given: dict[str, Any], typed: set[str]) -> Options:
    """Merge the command line (`given`, of which `typed` were typed) over --config's file; check required options."""
    given = dict(given)
    config = given.pop("config", None)
    values = {spec.name: _normal(spec, given.get(spec.name)) for spec in specs}
    if config is not None:
        for name, value in read_config(Path(config), command, specs).items():
            if name not in typed:
                values[name] = value
    for spec in specs:
        if spec.required and values[spec.name] in (None, []):
            raise ValueError(f"missing {_display(spec)} (on the command line or in --config)")
    return Options(command, specs, values)


def _normal(spec: OptionSpec, value: Any) -> Any:
    if spec.many:
        return [Path(v) if spec.kind is Path else v for v in value or ()]
    return value


def _display(spec: OptionSpec) -> str:
    return spec.name.upper() if spec.argument else spec.flag.split("/")[0]


def read_config(path: Path, command: str, specs: list[OptionSpec]) -> dict[str, Any]:
    """Option values (by field name) from a TOML file or a checkpoint version's stored run; one-line errors."""
    raw = _load(path)
    stored = raw.pop("command", None)
    if stored is not None and stored != command:
        raise ValueError(f"{path}: options of `vlm-agent {stored}`, not `vlm-agent {command}`")
    by_key = {}
    for spec in specs:
        by_key[spec.key] = by_key[spec.name] = spec
    values = {}
    for key, value in raw.items():
        spec = by_key.get(key.replace("-", "_"))
        if spec is None:
            raise ValueError(f"{path}: unknown option {key!r} for `vlm-agent {command}`")
        values[spec.name] = coerce(spec, value, f"{path}: {key}")
    return values


def _load(path: Path) -> dict:
    from vlm_agent.runtime.checkpoints import META, resolve_model_dir

    if path.is_dir():
        version, _ = resolve_model_dir(path)
        if not (version / META).exists():
            raise ValueError(f"{path}: neither a config file nor a checkpoint version")
        path = version / META
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such config file")
    if path.suffix == ".json":
        run = json.loads(path.read_text()).get("run")
        if not isinstance(run, dict):
            raise ValueError(f"{path}: this version stored no run options (published before they were recorded)")
        return {k: v for k, v in run.items() if v is not None}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None


def coerce(spec: OptionSpec, value: Any, where: str) -> Any:
    """A config file's value as the option's type, within its bounds; ValueError naming `where` otherwise."""
    if spec.many:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_one(spec, v, where) for v in value]
    return _one(spec, value, where)


def _one(spec: OptionSpec, value: Any, where: str) -> Any:
    kind = spec.kind
    ok = {bool: isinstance(value, bool), int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool)}.get(kind, isinstance(value, str))
    if not ok:
        raise ValueError(f"{where}: expected {'a path' if kind is Path else 'a ' + kind.__name__}, got {value!r}")
    value = kind(value)
    if spec.min is not None and value < spec.min or spec.max is not None and value > spec.max:
        raise ValueError(f"{where}: {value!r} is outside [{spec.min}, {spec.max}]")
    if spec.choices and value not in spec.choices:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(str, spec.choices))}")
    return value

