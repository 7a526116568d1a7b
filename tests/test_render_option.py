"""`--render clear|paper` on play (and eval, train, which share EnvOptions): the frames a run logs."""
import pytest
from typer.testing import CliRunner

from vlm_agent.cli.environment import EnvOptions
from vlm_agent.cli.main import app
from vlm_agent.runtime.log_reader import find_episode_files, read_episode

runner = CliRunner()


def logged_renders(log_dir) -> set[str]:
    files, _ = find_episode_files([log_dir])
    assert files
    return {step.info["render"] for f in files for step in read_episode(f).steps()}


@pytest.mark.parametrize("render", ["paper", "clear"])
def test_play_logs_the_rendering_it_was_asked_for(tmp_path, render):
    result = runner.invoke(app, ["play", "numberline", "--render", render, "--agent", "expert", "--episodes", "2",
                                 "--headless", "--log-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert logged_renders(tmp_path) == {render}


def test_the_default_rendering_is_clear(tmp_path):
    result = runner.invoke(app, ["play", "ezpoints", "--agent", "expert", "--episodes", "1", "--headless", "--log-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert logged_renders(tmp_path) == {"clear"}


@pytest.mark.parametrize("command", ["play", "eval", "train"])
def test_every_playing_command_offers_render(command):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert "--render" in result.output


def test_an_unknown_render_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["play", "numberline", "--render", "photo", "--agent", "expert", "--headless", "--log-dir", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "photo" in result.output


def test_card_games_get_the_render_kwarg_and_alfworld_refuses_paper():
    assert EnvOptions(env="blackjack", render="paper").env_kwargs() == {"render": "paper"}
    assert "render" not in EnvOptions(env="alfworld").env_kwargs()
    with pytest.raises(ValueError, match="card games"):
        EnvOptions(env="alfworld", render="paper").env_kwargs()


def test_no_memory_gives_alfworld_the_papers_prompt_and_memory_is_on_by_default():
    from vlm_agent.cli.environment import EnvOptions

    assert EnvOptions("alfworld").env_kwargs()["memory"] == "ranked"
    assert EnvOptions("alfworld", memory="off").env_kwargs()["memory"] == "off"
    assert "memory" not in EnvOptions("numberline").env_kwargs()
