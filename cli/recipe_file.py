"""A recipe: the ordered `vlm-agent` commands that build a model, read from a TOML file.

    [vars]                                   # strings the stages use as {name}; `--set name=value` overrides one
    alfworld_data = "../shared/alfworld"

    [[stage]]
    name = "expert-numberline"               # its marker is {out}/.recipe/<name>.done
    run = ["play", "numberline", "--agent", "expert", "--headless", "--log-dir", "{output}"]
    output = "{out}/expert-logs/numberline"  # written under a temp name, renamed into place on exit 0
    env = { ALFWORLD_DATA = "{alfworld_data}" }   # optional

    [[stage]]
    name = "sft"                             # a trainer: publishes into its --out root, resumed there
    run = ["sft", "{out}/expert-logs", "--model", "{out}/base", "--out", "{out}/sft", "--steps", "4000"]

{out} is the recipe's `--out`, {recipe_dir} the folder of the recipe file; a variable may use both.
A stage that declares `output` must write to {output} (the runner passes a temp sibling there).
A stage whose command trains (sft, vision-pretrain, train, finetune) declares no output: its
product is the checkpoint root named by --out, and it is done when that root's newest version
has reached the stage's goal (--stop-at or --steps; for train, --updates more rounds than when
the stage started; for finetune, one more update).
"""
from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RECIPE = Path("configs/default-model/recipe.toml")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
STAGE_KEYS = {"name", "run", "output", "env"}


@dataclass(frozen=True)
class Trainer:
    """How far a training stage takes its checkpoint root: `goal` in the root's `counter` (step or update).

    `relative`: the goal counts from where the root stood when the stage started (train's --updates
    are rounds to run, not a total); `option` is then the flag that says how many remain.
    """

    counter: str
    goal: int
    relative: bool = False
    option: str | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    template: tuple[str, ...]  # the vlm-agent arguments; {output} still a placeholder
    env_template: dict = field(default_factory=dict)
    output: Path | None = None
    root: Path | None = None  # a trainer's checkpoint root
    trainer: Trainer | None = None

    @property
    def temp(self) -> Path:
        """Where the command writes `output` until it exits 0: a hidden sibling, so the rename stays on one disk."""
        return self.output.parent / f".{self.output.name}.recipe-partial"

    def argv(self, output: Path | None = None) -> list[str]:
        """The arguments with {output} as `output` (default: the final output)."""
        return [_output(arg, output or self.output) for arg in self.template]

    @property
    def args(self) -> list[str]:
        """The stage's command as the recipe states it (what a done marker records and compares)."""
        return self.argv()

    @property
    def env(self) -> dict[str, str]:
        return {key: _output(value, self.output) for key, value in self.env_template.items()}

    def display(self, args: list[str] | None = None) -> str:
        """The command as a shell line: env, `vlm-agent`, `args` (default: the stated ones)."""
        env = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.env.items())
        return (env + " " if env else "") + shlex.join(["vlm-agent", *(self.args if args is None else args)])


@dataclass(frozen=True)
class Recipe:
    path: Path
    out: Path
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ValueError(f"{self.path}: no stage {name!r} (stages: {', '.join(s.name for s in self.stages)})")

    def until(self, name: str | None) -> tuple[Stage, ...]:
        """The stages up to and including `name` (all of them for None)."""
        if name is None:
            return self.stages
        return self.stages[: self.stages.index(self.stage(name)) + 1]


def _output(text: str, output: Path | None) -> str:
    return text.replace("{output}", str(output)) if output is not None else text


def load_recipe(path: Path, out: Path, overrides: dict[str, str] | None = None) -> Recipe:
    """The recipe at `path` with {out} = `out` and its [vars] (`overrides` replacing some); ValueError in one line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such recipe file")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None
    unknown = set(raw) - {"vars", "stage"}
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {', '.join(sorted(unknown))} (a recipe has [vars] and [[stage]])")
    builtins = {"out": str(Path(out)), "recipe_dir": str(path.parent)}
    declared = raw.get("vars", {})
    for key, value in (overrides or {}).items():
        if key not in declared:
            raise ValueError(f"--set {key}: the recipe has no variable {key!r} (it has: {', '.join(declared) or 'none'})")
        declared = {**declared, key: value}
    values = dict(builtins)
    for key, value in declared.items():
        if key in builtins or not isinstance(value, str):
            raise ValueError(f"{path}: [vars] {key}: a variable is a string and not named {' or '.join(builtins)}")
        values[key] = fill(value, builtins, f"{path}: [vars] {key}")
    stages = [_stage(entry, index, values, path) for index, entry in enumerate(raw.get("stage", []), 1)]
    if not stages:
        raise ValueError(f"{path}: no [[stage]]")
    names = [stage.name for stage in stages]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}: stage names repeat: {', '.join(repeated)}")
    return Recipe(path, Path(out), tuple(stages))


def _stage(entry: dict, index: int, values: dict[str, str], path: Path) -> Stage:
    where = f"{path}: stage {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not STAGE_NAME.fullmatch(entry["name"]):
        raise ValueError(f"{where}: needs a name (letters, digits, . _ -)")
    name = entry["name"]
    where = f"{path}: stage {name}"
    unknown = set(entry) - STAGE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (a stage has {', '.join(sorted(STAGE_KEYS))})")
    run, env = entry.get("run"), entry.get("env", {})
    if not isinstance(run, list) or not run or not all(isinstance(arg, str) for arg in run):
        raise ValueError(f"{where}: run is a list of strings, the vlm-agent arguments")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValueError(f"{where}: env is a table of strings")
    output = entry.get("output")
    # {output} stays a placeholder: the runner fills in the temp sibling, the markers the final path.
    known = {**values, "output": "{output}"} if output is not None else values
    template = tuple(fill(arg, known, where) for arg in run)
    env = {key: fill(value, known, where) for key, value in env.items()}
    if template[0] in ("play", "train") and "--headless" not in template:
        # A stage runs outside the terminal's foreground (Ctrl-C reaches it through the runner): no live view there.
        raise ValueError(f"{where}: {template[0]} runs in a recipe with --headless")
    trainer = _trainer(template, where)
    if trainer is not None:
        if output is not None:
            raise ValueError(f"{where}: a training stage publishes into its --out checkpoint root; it declares no output")
        root = option_value(template, "--out")
        if root is None:
            raise ValueError(f"{where}: a training stage names its checkpoint root with --out")
        return Stage(name, template, env, root=Path(root), trainer=trainer)
    if output is not None:
        if not isinstance(output, str):
            raise ValueError(f"{where}: output is a path")
        if not any("{output}" in arg for arg in template):
            raise ValueError(f"{where}: declares output but its run never writes to {{output}}")
        return Stage(name, template, env, output=Path(fill(output, values, where)))
    return Stage(name, template, env)


def fill(text: str, values: dict[str, str], where: str) -> str:
    """`text` with each {name} replaced by values[name]; an unknown name is an error naming `where`."""
    def one(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            hint = " (only a stage that declares output has one)" if name == "output" else ""
            raise ValueError(f"{where}: unknown variable {{{name}}}{hint}")
        return values[name]

    return PLACEHOLDER.sub(one, text)


def option_value(args: tuple[str, ...] | list[str], flag: str) -> str | None:
    """The value of `flag` in `args` (`--flag V` or `--flag=V`; the last one wins), or None."""
    value = None
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def _trainer(args: tuple[str, ...], where: str) -> Trainer | None:
    """The goal of a training command (sft, vision-pretrain, train, finetune), from its arguments or its --config file."""
    command = args[0]
    if command not in ("sft", "vision-pretrain", "train", "finetune"):
        return None
    if command == "finetune":
        if "--watch" in args:
            raise ValueError(f"{where}: finetune --watch never ends; a recipe stage runs single updates")
        return Trainer("update", 1, relative=True)
    names = ("updates",) if command == "train" else ("steps", "stop_at")
    given = {name: _number(args, name, where) for name in names}
    if given[names[0]] is None:
        flag = "--" + names[0]
        raise ValueError(f"{where}: a training stage names its goal ({flag}) in run or in its --config file")
    if command == "train":
        return Trainer("update", given["updates"], relative=True, option="--updates")
    return Trainer("step", min(given["steps"], given["stop_at"] or given["steps"]))


def _number(args: tuple[str, ...], name: str, where: str) -> int | None:
    flag = "--" + name.replace("_", "-")
    value = option_value(args, flag)
    if value is None:
        config = option_value(args, "--config")
        if config is not None and Path(config).suffix == ".toml" and Path(config).is_file():
            table = tomllib.loads(Path(config).read_text())
            value = table.get(name, table.get(name.replace("_", "-")))
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {flag} {value!r} is not a whole number") from None
