"""benchmarks/device_check.py: refuses without CUDA in one line; its dry run plays, fine-tunes (LoRA, full) and evaluates."""
from __future__ import annotations

import json

import pytest
import torch

from script_loader import load_script


@pytest.fixture(scope="module")
def device_check():
    return load_script("benchmarks/device_check.py")


def test_without_cuda_it_refuses_in_one_line(device_check, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert device_check.main([]) == 2
    error = capsys.readouterr().err
    assert "no CUDA device" in error and "--dry-run" in error and error.count("\n") == 1


def test_dry_run_plays_finetunes_lora_and_full_and_evaluates_with_ratio_one(device_check, tmp_path):
    assert device_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "DEVICE_CHECK.json").read_text())
    assert result["ok"] and result["device"] == "cpu" and result["dtype"] == "fp32"
    for kind in ("lora", "full"):
        assert result[kind]["first_ratio_error"] < 1e-4 and result[kind]["reloaded"] and result[kind]["devices"] == ["cpu"]
    assert result["eval"]["policy_version"] == "v000002"
