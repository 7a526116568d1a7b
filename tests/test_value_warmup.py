"""The value-head warm-up: a fresh critic is fitted to the returns before its first PPO update."""
from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest
import torch

from test_finetune import model_dir, write_logs  # noqa: F401  (model_dir: the tiny model fixture)
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.training.finetune import PPOTrainer, read_logs
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.value_warmup import discounted_returns, warm_up_value_head


@pytest.fixture(scope="module")
def big_return_episodes(model_dir, tmp_path_factory):
    """Eight one-step episodes the policy sampled, paid +10 (a won card game): far from a fresh head's ~0."""
    logs = tmp_path_factory.mktemp("logs")
    write_logs(load_policy(model_dir, temperature=1.0, max_new_tokens=8, seed=5), logs / "run", str(model_dir), episodes=8)
    episodes = read_logs([logs], warn=print)
    column = episodes[0].table.schema.get_field_index("reward")
    field = episodes[0].table.schema.field(column)
    return [dataclasses.replace(e, table=e.table.set_column(column, field, pa.array([10.0], type=field.type))) for e in episodes]


def test_discounted_returns_by_hand():
    assert discounted_returns([1.0, 0.0, 2.0], gamma=0.5) == pytest.approx([1.5, 1.0, 2.0])
    assert discounted_returns([], gamma=0.9) == []


def test_warm_up_fits_the_head_and_replaces_only_the_logged_values(model_dir, big_return_episodes):
    policy = load_policy(model_dir)
    refit, metrics = warm_up_value_head(policy, big_return_episodes, gamma=0.9, epochs=200, lr=1e-2)
    assert metrics["value_warmup_steps"] == 8
    assert metrics["value_warmup_loss_before"] > 40  # the fresh head predicts about 0 for a return of 10
    assert metrics["value_warmup_loss_out_of_fold"] < 1.0
    values = [e.table.column("value")[0].as_py() for e in refit]
    assert values == pytest.approx([10.0] * 8, abs=1.5)
    for old, new in zip(big_return_episodes, refit):
        assert new.table.drop_columns(["value"]).equals(old.table.drop_columns(["value"]))


def test_prompt_features_are_what_the_value_head_reads_when_acting(model_dir, big_return_episodes):
    policy = load_policy(model_dir)
    row = big_return_episodes[0].rows[0]
    frame = decode_png(row.frame_png)
    with torch.no_grad():
        evaluated = policy.evaluate([frame], [row.prompt], [row.response_token_ids]).values
        from_features = policy.value_head(policy.prompt_features([frame], [row.prompt]))
    assert float(from_features[0]) == pytest.approx(float(evaluated[0]), abs=1e-4)
    assert float(from_features[0]) == pytest.approx(row.value, abs=1e-3)  # the value logged while acting


def test_first_update_warms_up_once_and_lowers_the_value_loss(model_dir, big_return_episodes, tmp_path):
    losses = {}
    for epochs in (0, 200):
        config = PPOConfig(update_epochs=1, lr=1e-4, minibatch_size=8, value_warmup_epochs=epochs, max_version_lag=5)
        trainer = PPOTrainer(model_dir, tmp_path / f"out{epochs}", config)
        metrics = trainer.update(big_return_episodes)
        losses[epochs] = metrics["value_loss"]
        assert ("value_warmup_explained_variance" in metrics) == (epochs > 0)
        trainer.publish(metrics)
        trainer.close()
    assert losses[200] < losses[0] / 10, losses
    resumed = PPOTrainer(None, tmp_path / "out200", config, resume=True)  # the root's head is warm: not again
    assert "value_warmup_steps" not in resumed.update(big_return_episodes)
