"""`vlm-agent replay`: browsing logged episodes, token colouring, values against realised returns."""
import asyncio

import pytest
from tui_fakes import StreamingFakeVLM, char_decoder, numberline_session, wait_until

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.log_reader import find_episode_files
from vlm_agent.tui.replay_app import EpisodePicker, ReplayApp
from vlm_agent.tui.replay_data import returns_to_go, token_decoder_for, token_pieces


def play_headless(agent, log_dir, episodes, model_dir=None):
    extra = {"model": str(model_dir)} if model_dir is not None else None  # what the CLI writes for --model
    session = numberline_session(agent, log_dir, episodes=episodes, manifest_extra=extra)
    session.loop.run()
    return session.finish()


def shown(app, selector: str) -> str:
    return str(app.query_one(selector).content)


@pytest.fixture(scope="module")
def vlm_log(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("vlm-log")
    play_headless(StreamingFakeVLM(), log_dir, episodes=3)
    return log_dir


def test_returns_to_go_discount_later_rewards():
    assert returns_to_go([0.0, -1.0, 1.0], gamma=0.5) == [0.0 + 0.5 * (-1.0 + 0.5), -0.5, 1.0]


def test_replay_steps_through_an_episode_with_tokens_log_probs_and_values(vlm_log):
    app = ReplayApp(vlm_log, token_decoder=char_decoder)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            steps = app.steps
            assert shown(app, "#status").startswith("episode 1/3") and "step 1/" in shown(app, "#status")
            assert app.query_one("#frame-image").image is not None
            # The token pieces join to the answer; the action token is told apart from CoT tokens.
            answer = app.query_one("#answer-text").content
            assert answer.plain == steps[0].response
            action_token = steps[0].response.index(f'"{steps[0].action_sent}"}}') + 1
            styles = {str(span.style.color.name) for span in answer.spans if span.start == action_token}
            assert styles == {"yellow"}
            assert "Σ log-prob: CoT" in shown(app, "#legend") and "λ=0.5" in shown(app, "#legend")
            assert app.query_one("#tokens").row_count == len(steps[0].response_token_ids)
            realised = returns_to_go([s.reward for s in steps])[0]
            assert f"value +0.50 vs realised {realised:+.2f} (γ=0.9)" in shown(app, "#facts")
            await pilot.press("end")
            assert app.step_index == len(steps) - 1
            await pilot.press("left")
            assert app.step_index == max(0, len(steps) - 2)
            await pilot.press("t")
            assert not app.query_one("#tokens").display
            await pilot.press("right_square_bracket")
            assert shown(app, "#status").startswith("episode 2/3") and app.step_index == 0
            await pilot.press("g")
            await wait_until(pilot, lambda: isinstance(app.screen, EpisodePicker))
            await pilot.press("down", "enter")
            await wait_until(pilot, lambda: not isinstance(app.screen, EpisodePicker))
            assert app.episode_index == 2

    asyncio.run(scenario())


def test_scripted_episodes_replay_without_log_probs_and_bad_files_do_not_stop_replay(tmp_path):
    play_headless(ExpertAgent(seed=0), tmp_path, episodes=2)
    files, _ = find_episode_files([tmp_path])
    (files[0].parent / "ep999999.parquet").write_bytes(b"not parquet")
    app = ReplayApp(tmp_path)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            assert "no log-probs (expert agent)" in shown(app, "#legend")
            assert not app.query_one("#tokens").display
            assert '"action"' in shown(app, "#answer-text")
            await pilot.press("right_square_bracket", "right_square_bracket")
            assert app.episode_index == 2 and "not a readable Parquet file" in shown(app, "#answer-text")
            await pilot.press("right", "left_square_bracket")  # keys on a bad episode do nothing harmful
            assert app.episode_index == 1 and app.steps

    asyncio.run(scenario())


def test_token_pieces_join_to_the_answer_even_across_multibyte_characters(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator(['{"thoughts": "Current 3, target 5.", "action": "+"}'] * 5, trainer)
    text = '{"thoughts": "café déjà vu", "action": "+"}'
    ids = tokenizer.encode(text).ids
    assert "".join(token_pieces(tokenizer.decode, ids)) == text

    # The replay finds the tokenizer through the run's manifest (--model).
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    tokenizer.save(str(model_dir / "tokenizer.json"))
    play_headless(ExpertAgent(seed=0), tmp_path / "logs", episodes=1, model_dir=model_dir)
    files, _ = find_episode_files([tmp_path / "logs"])
    decoder = token_decoder_for(files[0])
    assert decoder is not None and "".join(decoder(ids)) == text


def test_replay_of_unreadable_logs_or_without_a_terminal_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from vlm_agent.agent.experts import ExpertAgent
    from vlm_agent.cli.main import app
    from vlm_agent.runtime.loop import LoopConfig
    from vlm_agent.runtime.play import PlaySession

    broken = tmp_path / "broken" / "run" / "episodes"
    broken.mkdir(parents=True)
    (broken / "ep000000.parquet").write_bytes(b"not parquet")
    runner = CliRunner()
    result = runner.invoke(app, ["replay", str(tmp_path / "broken")])
    assert result.exit_code == 2 and "no readable episode log" in result.output and "Traceback" not in result.output
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=1), ExpertAgent(seed=0), tmp_path / "good", "numberline")
    session.loop.run()
    session.finish()
    result = runner.invoke(app, ["replay", str(tmp_path / "good")])  # CliRunner's output is no terminal
    assert result.exit_code == 2 and "in a terminal" in result.output
