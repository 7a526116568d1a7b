"""CLI options generated from the config dataclasses; --config files under the command line; shipped configs."""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vlm_agent.cli.main import app, play
from vlm_agent.cli.eval import evaluate
from vlm_agent.cli.model import sft
from vlm_agent.cli.options import Options, options_command, read_config
from vlm_agent.cli.train import finetune, train
from vlm_agent.cli.vision import vision_pretrain
from vlm_agent.training.ppo_config import PPOConfig

runner = CliRunner()
COMMANDS = {"play": play, "eval": evaluate, "sft": sft, "vision-pretrain": vision_pretrain, "finetune": finetune, "train": train}
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def capture(*configs: type, **adapt):
    """A one-command app whose command returns its Options in `seen`."""
    seen: list[Options] = []

    @options_command("probe", *configs, **adapt)
    def probe(options: Options) -> None:
        seen.append(options)

    one = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    one.command()(probe)
    one.command("other")(lambda: None)  # two commands, so `probe` is invoked by name as in the real CLI
    return one, seen


def flags_of(command) -> set[str]:
    return {opt for spec in command.option_specs for opt in spec.flag.split("/")}


def test_a_field_added_to_a_config_is_an_option_of_the_command():
    @dataclass
    class Extended(PPOConfig):
        kl_target: float = field(default=0.02, metadata={"help": "Stop the epochs past this approx KL.", "min": 0.0})

    one, seen = capture(Extended)
    help_text = runner.invoke(one, ["probe", "--help"], env={"COLUMNS": "250"}).output
    assert "--kl-target" in help_text and "Stop the epochs past this approx KL." in help_text
    result = runner.invoke(one, ["probe", "--kl-target", "0.5", "--epochs", "3"])
    assert result.exit_code == 0, result.output
    built = seen[0].build(Extended)
    assert (built.kl_target, built.update_epochs) == (0.5, 3)
    assert runner.invoke(one, ["probe", "--kl-target", "-1"]).exit_code == 2  # the field's min reaches click


def test_every_ppo_field_is_a_flag_of_finetune_and_train_including_the_booleans():
    for command in (finetune, train):
        specs = {spec.name: spec for spec in command.option_specs}
        assert {f.name for f in dataclasses.fields(PPOConfig)} <= set(specs)
        assert {"--norm-adv", "--no-norm-adv", "--clip-vloss", "--no-clip-vloss", "--epochs"} <= flags_of(command)


def test_an_optional_boolean_is_unset_on_or_off_from_the_command_line_or_a_config_file(tmp_path):
    from vlm_agent.agent.sampling_config import SamplingConfig

    one, seen = capture(SamplingConfig)
    config = tmp_path / "on.toml"
    config.write_text("constrain_actions = true\n")
    cases = [([], None), (["--constrain-actions"], True), (["--no-constrain-actions"], False),
             (["--config", str(config)], True), (["--config", str(config), "--no-constrain-actions"], False)]
    for args, expected in cases:
        result = runner.invoke(one, ["probe", *args])
        assert result.exit_code == 0, result.output
        assert seen[-1].build(SamplingConfig).constrain_actions is expected, args
    assert "constrain_actions" not in seen[0].record()  # unset stays unset when a run is re-run from its record
    for command in (play, evaluate, train):  # each says what no flag means
        spec = next(spec for spec in command.option_specs if spec.name == "constrain_actions")
        assert spec.optional and spec.help.endswith("Default: the model's own (recorded at export), else off.")


def test_the_flags_users_typed_before_still_exist():
    old = {
        "play": "--agent --model --episodes --num-envs --seed --repeats --log-dir --headless --greedy --temperature --top-p "
                "--max-new-tokens --constrain-actions --prompt --fallback --alfworld-data --split --reload",
        "eval": "--model --episodes --seed --num-envs --sampled --temperature --prompt --max-new-tokens --constrain-actions "
                "--split --alfworld-data --out --log-dir --row",
        "sft": "--model --out --steps --batch-size --lr --warmup-steps --save-every --eval-every --held-out --captions "
               "--freeze-vision --seed --resume --stop-at",
        "vision-pretrain": "--model --out --steps --batch-size --lr --save-every --eval-every --held-out --seed --resume",
        "finetune": "--model --out --resume --watch --every --poll-seconds --max-updates --epochs --minibatch-size --lr --lr-min "
                    "--total-updates --clip-coef --vf-coef --value-warmup-epochs --ent-coef --max-grad-norm --gamma --gae-lambda "
                    "--thought-coef --advantage --max-version-lag --bc-coef --lora-r --lora-alpha --precision --seed",
        "train": "--model --out --resume --updates --episodes-per-update --repeats --num-envs --log-dir --temperature "
                 "--max-new-tokens --constrain-actions --prompt --fallback --epochs --lr --advantage --seed",
    }
    for name, flags in old.items():
        missing = set(flags.split()) - flags_of(COMMANDS[name]) - {"--config"}
        assert not missing, (name, missing)


def test_config_file_sets_options_and_the_command_line_overrides_it(tmp_path):
    one, seen = capture(PPOConfig)
    (tmp_path / "run.toml").write_text('lr = 0.5\nepochs = 3\nmax-grad-norm = 2\nnorm_adv = false\nadvantage = "grpo"\n')
    result = runner.invoke(one, ["probe", "--config", str(tmp_path / "run.toml"), "--epochs", "5", "--advantage", "gae"])
    assert result.exit_code == 0, result.output
    config = seen[0].build(PPOConfig)
    assert (config.lr, config.max_grad_norm, config.norm_adv) == (0.5, 2.0, False)  # from the file
    assert (config.update_epochs, config.advantage) == (5, "gae")  # the command line wins
    assert config.gamma == PPOConfig.gamma  # neither: the default


@pytest.mark.parametrize("text, fragment", [
    ("bogus_knob = 1\n", "unknown option 'bogus_knob'"),
    ("lr = \"fast\"\n", "lr: expected a float"),
    ("epochs = 0\n", "epochs: 0 is outside"),
    ('command = "sft"\n', "options of `vlm-agent sft`"),
    ("lr = \n", "not valid TOML"),
])
def test_a_bad_config_file_is_one_line_naming_the_key(tmp_path, text, fragment):
    (tmp_path / "logs").mkdir()
    (tmp_path / "bad.toml").write_text(text)
    result = runner.invoke(app, ["finetune", str(tmp_path / "logs"), "--config", str(tmp_path / "bad.toml")])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_required_options_may_come_from_the_file_but_must_come_from_somewhere(tmp_path):
    result = runner.invoke(app, ["sft", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "missing --model" in result.output
    result = runner.invoke(app, ["sft", "--model", "m", "--out", "o"])
    assert result.exit_code == 2 and "missing LOGS" in result.output


def test_recorded_options_read_back_as_the_same_options(tmp_path):
    import tomli_w

    one, seen = capture(PPOConfig)
    assert runner.invoke(one, ["probe", "--lr", "0.25", "--no-clip-vloss", "--lora-alpha", "8"]).exit_code == 0
    (tmp_path / "run.toml").write_text(tomli_w.dumps(seen[0].record()))
    assert runner.invoke(one, ["probe", "--config", str(tmp_path / "run.toml")]).exit_code == 0
    assert seen[1].build(PPOConfig) == seen[0].build(PPOConfig)


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.toml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_shipped_config_names_only_options_of_its_command(path):
    if "stage" in tomllib.loads(path.read_text()):
        return  # a recipe of commands (`vlm-agent model recipe`), not options: tests/test_recipe.py checks it
    command = tomllib.loads(path.read_text()).get("command")
    for name in [command] if command else ["finetune", "train"]:  # no command: PPO settings for either
        values = read_config(path, name, COMMANDS[name].option_specs)  # raises on an unknown key or a bad value
        assert values


def test_the_paper_config_holds_the_papers_values_and_the_defaults_are_the_documented_runs():
    paper = tomllib.loads((CONFIGS / "paper-7b.toml").read_text())
    assert (paper["lr"], paper["max_grad_norm"], paper["epochs"], paper["minibatch_size"], paper["ent_coef"]) == (1e-5, 0.01, 4, 8, 0.001)
    curve = tomllib.loads((CONFIGS / "learning" / "numberline-ppo.toml").read_text())
    default = PPOConfig()
    assert (default.lr, default.lr_min, default.max_grad_norm, default.update_epochs, default.minibatch_size, default.ent_coef) == (
        curve["lr"], curve["lr_min"], curve["max_grad_norm"], curve["epochs"], curve["minibatch_size"], curve["ent_coef"])


def test_train_runs_from_a_config_file_and_its_version_re_runs_it(tmp_path):
    import json

    from tiny_models import build_tiny

    model = build_tiny("idefics3", tmp_path / "model")
    config = tmp_path / "run.toml"
    config.write_text(f'command = "train"\nenv = "numberline"\nmodel = "{model}"\nupdates = 1\nepisodes-per-update = 2\n'
                      f'num-envs = 1\nmax-new-tokens = 3\nepochs = 1\nlr = 2e-5\nlog-dir = "{tmp_path / "logs"}"\n')
    runner = CliRunner()
    first = runner.invoke(app, ["train", "--config", str(config), "--out", str(tmp_path / "a"), "--headless"])
    assert first.exit_code == 0, first.output
    stored = json.loads((tmp_path / "a" / "versions" / "v000002" / "vlm_agent_checkpoint.json").read_text())["run"]
    assert stored["command"] == "train" and stored["lr"] == 2e-5 and stored["updates"] == 1 and stored["max_new_tokens"] == 3
    again = runner.invoke(app, ["train", "--config", str(tmp_path / "a" / "versions" / "v000002"), "--out", str(tmp_path / "b"), "--headless"])
    assert again.exit_code == 0, again.output
    rerun = json.loads((tmp_path / "b" / "versions" / "v000002" / "vlm_agent_checkpoint.json").read_text())["run"]
    assert {k: v for k, v in rerun.items() if k != "out"} == {k: v for k, v in stored.items() if k != "out"}


@pytest.mark.parametrize("args, line", [
    (["play", "numberline", "--episodes", "0"], "--episodes 0: Input should be greater than or equal to 1 (see vlm-agent play --help)"),
    (["eval", "numberline", "--num-envs", "-1"], "--num-envs -1: Input should be greater than or equal to 1 (see vlm-agent eval --help)"),
    (["play", "numberline", "--episodes=many"], "--episodes many: Input should be a valid integer, unable to parse string as an integer "
                                                   "(see vlm-agent play --help)"),
    (["play", "numberline", "--bogus"], "No such option: --bogus (see vlm-agent play --help)"),
    (["frob"], "No such command 'frob'. (see vlm-agent --help)"),
    (["model", "init", "--corpus-episodes", "0", "--out", "x"],
     "--corpus-episodes 0: Input should be greater than or equal to 1 (see vlm-agent model init --help)"),
])
def test_a_usage_error_is_one_line_naming_the_option_and_value_and_exit_2(args, line):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {line}"]


def test_help_is_still_the_full_help():
    result = runner.invoke(app, ["play", "--help"])
    assert result.exit_code == 0 and "Usage: vlm-agent play" in result.output and "--episodes" in result.output
    assert "Commands" in runner.invoke(app, []).output  # no arguments: the command list
