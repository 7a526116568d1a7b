"""Supervised fine-tuning: loss falls on expert answers, Ctrl-C publishes, --resume continues exactly."""
from __future__ import annotations

import os
import shutil
import signal

import pytest
import torch

from log_splits import episode_hashes, splitting_fraction
from tiny_models import build_tiny
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.play import PlaySession
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.sft import BatchSchedule, SFTConfig, answer_loss, batch_for_step, run_sft
from vlm_agent.training.sft_config import parse_env_shares
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.training.sft_data import SFTExample, load_sft_data


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    model = build_tiny("idefics3", root / "model")
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=12, num_envs=4), ExpertAgent(seed=0), root / "logs", "numberline")
    session.loop.run()
    session.finish()
    return model, root / "logs"


def weights(folder):
    policy = load_policy(folder)
    return torch.cat([p.detach().flatten() for p in policy.parameters()])


def test_expert_steps_become_examples_split_by_episode(setup):
    _, logs = setup
    episodes, hashes = list(iter_episodes([logs])), episode_hashes(logs)
    fraction = splitting_fraction(logs)  # the fixture's run id is random: a fixed 0.3 once held out none of 12 episodes
    data = load_sft_data([logs], held_out_fraction=fraction)
    held_steps = sum(len(e.rows) for e in episodes if hashes[e.episode_id] < fraction * 10_000)
    assert 0 < len(data.held_out) == held_steps < len(data.train) + len(data.held_out)
    assert load_sft_data([logs], held_out_fraction=fraction).held_out == data.held_out  # the same on every call
    assert all(e.answer.startswith('{"thoughts"') for e in data.train)
    assert len(data.train) + len(data.held_out) >= 12


def test_caption_logs_give_captions_for_their_own_episodes_only(setup, tmp_path):
    _, logs = setup
    shutil.copytree(logs, tmp_path / "paper")
    data = load_sft_data([logs], held_out_fraction=0.0, caption_paths=[tmp_path / "paper"])
    answers = [e for e in data.train if e.kind == "answer"]
    captions = [e for e in data.train if e.kind == "caption"]
    # both folders' answers are trained; only the caption folder's steps are also captioned
    assert len(answers) == 2 * len(load_sft_data([logs], held_out_fraction=0.0).train)
    assert len(captions) == len(answers) // 2 and all(e.answer.startswith("Target") for e in captions)
    # a folder named both ways is read once, with its captions
    both = load_sft_data([logs], held_out_fraction=0.0, caption_paths=[logs])
    assert len([e for e in both.train if e.kind == "answer"]) == len(answers) // 2
    assert len([e for e in both.train if e.kind == "caption"]) == len(answers) // 2


def test_loss_falls_on_the_answers(setup, tmp_path):
    model, logs = setup
    data = load_sft_data([logs], held_out_fraction=0.0)
    policy = load_policy(model)
    before = float(answer_loss(policy, data.train[:8]))
    run_sft(data, model, tmp_path / "out", SFTConfig(steps=12, batch_size=8, lr=3e-3, warmup_steps=2, save_every=100, eval_every=100))
    after = float(answer_loss(load_policy(tmp_path / "out"), data.train[:8]))
    assert after < before - 0.5


def test_ctrl_c_publishes_and_resume_matches_an_uninterrupted_run(setup, tmp_path):
    model, logs = setup
    data = load_sft_data([logs], held_out_fraction=0.0)
    config = SFTConfig(steps=6, batch_size=4, lr=1e-3, warmup_steps=1, save_every=100, eval_every=100)
    run_sft(data, model, tmp_path / "straight", config)

    def interrupt_at_3(step, metrics):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = run_sft(data, model, tmp_path / "resumed", config, on_progress=interrupt_at_3)
    assert stopped["interrupted"] and stopped["step"] == 3
    assert CheckpointStore(tmp_path / "resumed").latest().meta()["step"] == 3
    finished = run_sft(data, model, tmp_path / "resumed", config, resume=True)
    assert finished["step"] == 6 and len(CheckpointStore(tmp_path / "resumed").versions()) == 2
    assert torch.allclose(weights(tmp_path / "straight"), weights(tmp_path / "resumed"), atol=1e-6)


def test_stop_at_publishes_there_and_resume_matches_an_uninterrupted_run(setup, tmp_path):
    model, logs = setup
    data = load_sft_data([logs], held_out_fraction=0.0)
    config = SFTConfig(steps=4, batch_size=4, lr=1e-3, warmup_steps=1, save_every=100, eval_every=100)
    run_sft(data, model, tmp_path / "straight", config)
    staged = SFTConfig(**{**vars(config), "stop_at": 2})
    stopped = run_sft(data, model, tmp_path / "staged", staged)
    assert stopped["step"] == 2 and not stopped["interrupted"]
    assert CheckpointStore(tmp_path / "staged").latest().meta()["step"] == 2
    run_sft(data, model, tmp_path / "staged", config, resume=True)
    assert torch.allclose(weights(tmp_path / "straight"), weights(tmp_path / "staged"), atol=1e-6)


def test_no_teacher_data_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    data = load_sft_data([tmp_path / "empty"])
    with pytest.raises(ValueError, match="no supervised examples"):
        run_sft(data, tmp_path / "model", tmp_path / "out", SFTConfig())


def test_corrupt_log_files_are_skipped_and_counted(setup, tmp_path):
    _, logs = setup
    episodes = sorted(logs.glob("*/episodes/*.parquet"))
    (episodes[0].parent / "ep999999.parquet").write_bytes(b"not parquet")
    skipped = []
    data = load_sft_data([logs], on_skip=skipped.append)
    (episodes[0].parent / "ep999999.parquet").unlink()
    assert data.skipped["unreadable files"] == 1 and "ep999999" in skipped[0]
    assert len(data.train) + len(data.held_out) > 0


def test_freeze_vision_trains_the_language_model_only(setup, tmp_path):
    model, logs = setup
    data = load_sft_data([logs], held_out_fraction=0.0, captions=True)
    run_sft(data, model, tmp_path / "out", SFTConfig(steps=3, batch_size=4, lr=1e-3, warmup_steps=1, save_every=100, eval_every=100, freeze_vision=True))
    before, after = load_policy(model).model, load_policy(tmp_path / "out").model
    changed = {name for (name, p), q in zip(before.named_parameters(), after.parameters()) if not torch.equal(p, q)}
    assert changed and not any("vision" in name or "connector" in name for name in changed)
    assert any("text_model" in name or "language_model" in name for name in changed)


def test_logs_that_do_not_read_are_named_as_the_problem(tmp_path):
    episodes = tmp_path / "logs" / "run" / "episodes"
    episodes.mkdir(parents=True)
    (episodes / "ep000000.parquet").write_bytes(b"not parquet")
    data = load_sft_data([tmp_path / "logs"])
    with pytest.raises(ValueError, match="none of the log files could be read"):
        run_sft(data, tmp_path / "model", tmp_path / "out", SFTConfig())
    assert not (tmp_path / "out").exists()


def mixed_examples():
    """90 NumberLine answers and 10 ALFWorld ones, each answer naming its example."""
    return [SFTExample(b"", "p", f"n{i}", "vlm_agent/NumberLine-v0") for i in range(90)] + \
           [SFTExample(b"", "p", f"a{i}", "vlm_agent/ALFWorld-v0") for i in range(10)]


def test_an_env_share_pins_that_environments_share_of_the_steps():
    examples = mixed_examples()
    schedule = BatchSchedule(examples, 4, seed=3, shares=parse_env_shares(["alfworld=0.5"]))
    batches = [schedule.batch(step) for step in range(400)]
    envs = [{e.env_id for e in batch} for batch in batches]
    assert all(len(env) == 1 for env in envs)  # one environment per batch
    alfworld = sum(env == {"vlm_agent/ALFWorld-v0"} for env in envs) / len(envs)
    assert 0.4 < alfworld < 0.6  # by its number alone it would be 0.1
    # each group goes through whole epochs of its own: its first 80 answers drawn hold every ALFWorld answer
    firsts = [e.answer for batch in batches if batch[0].answer[0] == "a" for e in batch][:80]
    assert sorted(set(firsts)) == sorted(f"a{i}" for i in range(10)) and len(firsts) == 80
    # decided by (seed, step) alone: a fresh schedule asked for step 250 first gives the same batch
    assert BatchSchedule(examples, 4, seed=3, shares={"vlm_agent/ALFWorld-v0": 0.5}).batch(250) == batches[250]


def test_without_shares_the_schedule_is_the_plain_epochs():
    examples = mixed_examples()
    schedule = BatchSchedule(examples, 4, seed=3)
    assert [schedule.batch(s) for s in range(30)] == [batch_for_step(examples, s, 4, 3) for s in range(30)]


@pytest.mark.parametrize("items, fragment", [
    (["alfworld"], "expected ENV=SHARE"),
    (["alfworld=lots"], "is not a number"),
    (["alfworld=0"], "above 0 and at most 1"),
    (["chess=0.5"], "unknown environment 'chess'"),
    (["alfworld=0.7", "ALFWorld=0.1"], "given twice"),
    (["alfworld=0.7", "blackjack=0.4"], "add up to 1.1"),
])
def test_a_bad_env_share_is_named(items, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_env_shares(items)


def test_a_share_of_an_environment_the_logs_lack_is_one_line(setup, tmp_path):
    from typer.testing import CliRunner
    from vlm_agent.cli.main import app

    model, logs = setup  # NumberLine episodes only
    result = CliRunner().invoke(app, ["sft", str(logs), "--model", str(model), "--out", str(tmp_path / "out"), "--steps", "1",
                                      "--env-share", "blackjack=0.3"])
    assert result.exit_code == 2, result.output
    assert "no vlm_agent/Blackjack-v0 examples" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing published


def test_sft_with_an_env_share_trains_and_resumes_like_an_uninterrupted_run(setup, tmp_path):
    model, logs = setup
    data = load_sft_data([logs], held_out_fraction=0.0)
    config = SFTConfig(steps=4, batch_size=4, lr=1e-3, warmup_steps=1, save_every=100, eval_every=100, env_share=["numberline=1"])
    run_sft(data, model, tmp_path / "straight", config)
    run_sft(data, model, tmp_path / "staged", SFTConfig(**{**vars(config), "stop_at": 2}))
    run_sft(data, model, tmp_path / "staged", config, resume=True)
    assert torch.allclose(weights(tmp_path / "straight"), weights(tmp_path / "staged"), atol=1e-6)
    assert not torch.allclose(weights(model), weights(tmp_path / "straight"))
