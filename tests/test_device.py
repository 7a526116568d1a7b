"""--device, --dtype, --attn-implementation and --gradient-checkpointing: on every command that loads a model, tested on the CPU."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from test_finetune import model_dir, sampled_logs  # noqa: F401  (fixtures: the tiny model and its own sampled episodes)
from vlm_agent.agent.device import Placement, enable_activation_checkpointing, is_activation_checkpointing, resolve
from vlm_agent.agent.device_config import TRAINING_ONLY, DeviceConfig
from vlm_agent.cli.main import app
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.training.finetune import PPOTrainer, finetune_once
from vlm_agent.training.ppo_config import PPOConfig

runner = CliRunner()
DEVICE_OPTIONS = {"device", "dtype", "attn_implementation"}


def command_options(name: str) -> set[str]:
    from vlm_agent.cli import eval as eval_cli, main, model, train, vision

    command = {"play": main.play, "eval": eval_cli.evaluate, "sft": model.sft, "vision-pretrain": vision.vision_pretrain,
               "finetune": train.finetune, "train": train.train}[name]
    return {spec.name for spec in command.option_specs}


@pytest.mark.parametrize("name", ["play", "eval", "sft", "vision-pretrain", "finetune", "train"])
def test_every_command_that_loads_a_model_takes_device_options(name):
    options = command_options(name)
    assert DEVICE_OPTIONS <= options
    assert ("gradient_checkpointing" in options) == (name not in ("play", "eval"))
    assert (set(TRAINING_ONLY) <= options) == (name in ("sft", "finetune"))  # the commands that run under torchrun


def test_auto_on_this_cpu_is_the_old_path_fp32_on_the_cpu():
    placement = resolve(DeviceConfig())
    assert placement.device == torch.device("cpu") and placement.dtype == torch.float32 and placement.is_default_cpu
    assert resolve(DeviceConfig(), training=True, lora=True).dtype == torch.float32


def test_asking_for_what_is_not_here_is_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="sees no CUDA device"):
        resolve(DeviceConfig(device="cuda"))
    with pytest.raises(ValueError, match="fp16 cannot train"):
        resolve(DeviceConfig(dtype="fp16"), training=True)
    with pytest.raises(ValueError, match="unknown device"):
        DeviceConfig(device="tpu")


@pytest.mark.parametrize("args", [["play", "numberline", "--headless", "--episodes", "1"], ["eval", "numberline", "--episodes", "1"]])
def test_cli_device_cuda_without_cuda_fails_in_one_line(args, model_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(app, [*args, "--model", str(model_dir), "--log-dir", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 2 and "sees no CUDA device" in result.output and "Traceback" not in result.output


def test_bf16_on_the_cpu_loads_acts_and_trains_with_ratio_one(model_dir, sampled_logs, tmp_path):
    policy = load_policy(model_dir, placement=resolve(DeviceConfig(dtype="bf16")), max_new_tokens=6)
    assert {p.dtype for p in policy.model.parameters()} == {torch.bfloat16}
    assert policy.value_head.mlp[0].weight.dtype == torch.float32  # the critic stays fp32
    rows = policy.generate([np.zeros((64, 64, 3), np.uint8)], ["Target: 3. Current: 1."])
    assert rows[0][0] and all(np.isfinite(rows[0][1]))
    # LoRA on a bf16 base with gradient checkpointing: the adapters train in fp32, the first ratio is 1.
    device = DeviceConfig(dtype="bf16", gradient_checkpointing=True)
    trainer = PPOTrainer(model_dir, tmp_path / "out", PPOConfig(update_epochs=1, minibatch_size=2, lora_r=4), device=device)
    assert is_activation_checkpointing(trainer.policy.model)
    assert {p.dtype for p in trainer.policy.parameters() if p.requires_grad} == {torch.float32}
    _, metrics = finetune_once(trainer, [sampled_logs], warn=print)
    assert metrics["first_minibatch"]["max_abs_ratio_minus_1"] < 2e-2  # bf16 rounding, with no fp32 path to compare against
    assert np.isfinite(metrics["policy_loss"])


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(model_dir):
    frames, prompts, answers = [np.zeros((64, 64, 3), np.uint8)] * 2, ["go", "Target: 3"], [[5, 6, 7], [8, 9]]
    grads = []
    for checkpointing in (False, True):
        policy = load_policy(model_dir)
        if checkpointing:
            enable_activation_checkpointing(policy.model)
        policy.train(True)
        assert is_activation_checkpointing(policy.model) == checkpointing
        evaluation = policy.evaluate(frames, prompts, answers)
        (evaluation.token_logprobs.sum() + evaluation.values.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


@pytest.mark.parametrize("kernel", ["eager", "sdpa"])
def test_the_attention_kernel_is_the_one_asked_for(model_dir, kernel):
    policy = load_policy(model_dir, placement=resolve(DeviceConfig(attn_implementation=kernel)))
    assert policy.model.config._attn_implementation == kernel


def test_a_policy_built_in_place_is_on_the_default_placement(model_dir):
    assert load_policy(model_dir).placement == Placement()
