"""PPO math: GAE against a hand computation, the step log-prob, the clipped losses."""
import pytest
import torch

from vlm_agent.training.ppo_math import compute_gae, explained_variance, normalize, ppo_losses, step_logprob


def test_gae_matches_a_hand_computed_example():
    rewards = torch.tensor([0.0, -1.0, 1.0])
    values = torch.tensor([0.5, 0.2, 0.8])
    dones = torch.tensor([0.0, 0.0, 1.0])
    gamma, lam = 0.9, 0.95
    # deltas: d2 = 1 - 0.8 = 0.2; d1 = -1 + 0.9*0.8 - 0.2 = -0.48; d0 = 0 + 0.9*0.2 - 0.5 = -0.32
    a2 = 0.2
    a1 = -0.48 + 0.9 * 0.95 * a2
    a0 = -0.32 + 0.9 * 0.95 * a1
    advantages, returns = compute_gae(rewards, values, dones, gamma, lam)
    assert torch.allclose(advantages, torch.tensor([a0, a1, a2]), atol=1e-6)
    assert torch.allclose(returns, advantages + values)


def test_gae_does_not_leak_across_an_episode_end():
    rewards = torch.tensor([1.0, 5.0])
    values = torch.tensor([0.0, 0.0])
    advantages, _ = compute_gae(rewards, values, torch.tensor([1.0, 1.0]))
    assert advantages.tolist() == [1.0, 5.0]


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    rewards = torch.tensor([1.0, 2.0, 3.0])
    values = torch.tensor([0.3, 0.1, 0.4])
    advantages, returns = compute_gae(rewards, values, torch.tensor([0.0, 0.0, 1.0]), gamma=0.5, lam=1.0)
    assert torch.allclose(returns, torch.tensor([1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]))


def test_thought_coef_weights_only_the_cot_tokens():
    logprobs = torch.tensor([[-1.0, -2.0, -0.5, -0.25]])
    cot = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    action = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    assert step_logprob(logprobs, cot, action, 0.5).item() == pytest.approx(0.5 * -3.0 + -0.75)
    assert step_logprob(logprobs, cot, action, 0.0).item() == pytest.approx(-0.75)
    assert step_logprob(logprobs, cot, action, 1.0).item() == pytest.approx(-3.75)


def test_ratio_one_gives_clipped_loss_equal_to_unclipped():
    logp = torch.tensor([-1.0, -2.0, -3.0])
    adv = torch.tensor([1.0, -0.5, 2.0])
    values = torch.tensor([0.1, 0.2, 0.3])
    losses = ppo_losses(logp, logp.clone(), adv, values, values, values + 1, torch.zeros(3))
    assert torch.allclose(losses.ratio, torch.ones(3))
    assert losses.policy_loss.item() == pytest.approx(losses.unclipped_policy_loss.item())
    assert losses.approx_kl.item() == pytest.approx(0.0) and losses.clip_fraction.item() == 0.0


def test_clipping_stops_the_gain_beyond_one_plus_clip():
    old = torch.tensor([0.0])
    new = torch.tensor([1.0])  # ratio e > 1.1
    losses = ppo_losses(new, old, torch.tensor([1.0]), torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1))
    assert losses.policy_loss.item() == pytest.approx(-1.1)
    assert losses.clip_fraction.item() == 1.0


def test_value_loss_is_clipped_around_the_old_value():
    new_v, old_v, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([2.0])
    clipped = ppo_losses(torch.zeros(1), torch.zeros(1), torch.zeros(1), new_v, old_v, ret, torch.zeros(1), value_clip_coef=0.1)
    unclipped = ppo_losses(torch.zeros(1), torch.zeros(1), torch.zeros(1), new_v, old_v, ret, torch.zeros(1), value_clip_coef=None)
    assert unclipped.value_loss.item() == 0.0
    assert clipped.value_loss.item() == pytest.approx(0.5 * 1.9**2)


def test_normalize_and_explained_variance():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert normalize(x).mean().abs() < 1e-6 and normalize(x).std().item() == pytest.approx(1.0, abs=1e-4)
    assert explained_variance(x, x) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(4), x) == pytest.approx(0.0, abs=1e-6)


def test_changing_thought_coef_moves_the_step_logprob_by_the_cot_sum_only():
    logprobs = torch.tensor([[-0.7, -1.3, -0.2, -2.0], [-0.1, -0.4, -3.0, 0.0]])
    cot = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    action = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    per_row = torch.tensor([0.2, 0.5])  # ALFWorld and card rows in one batch
    difference = step_logprob(logprobs, cot, action, per_row) - step_logprob(logprobs, cot, action, 0.0)
    assert torch.allclose(difference, per_row * (logprobs * cot).sum(-1))
