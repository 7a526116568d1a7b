"""`vlm-agent eval --protocol`: the paper's decoding (sampled at 0.2) beside greedy, in one JSON, on the shipped model."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.cli.eval import decoding_passes, default_row, describe_decoding
from vlm_agent.cli.main import app
from vlm_agent.runtime.log_reader import find_episode_files, read_episode

runner = CliRunner()
FAST = ["--episodes", "2", "--num-envs", "2", "--max-new-tokens", "48"]


def test_both_reports_greedy_and_the_papers_sampling_on_the_same_seeds(tmp_path):
    out = tmp_path / "nl.json"
    result = runner.invoke(app, ["eval", "numberline", "--protocol", "both", "--render", "paper", *FAST,
                                 "--out", str(out), "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["protocols"]) == {"greedy", "paper"}
    greedy, paper = data["protocols"]["greedy"], data["protocols"]["paper"]
    assert greedy["decoding"] == "greedy" and paper["decoding"] == "sampled, temperature 0.2"
    for figures in (greedy, paper):
        low, high = figures["success_ci95"]
        assert figures["episodes"] == 2 and 0.0 <= low <= figures["success_rate"] <= high <= 1.0
    # The top level is the greedy pass, so older readers of the file see what they saw before.
    assert data["success_rate"] == greedy["success_rate"] and data["decoding"] == "greedy"
    assert data["render"] == "paper" and data["split"] == "seeds 0-1" and data["row"].endswith(", paper frames")
    # Each pass logged its own episodes, with the decoding it used and the same seeds.
    by_run = {}
    for path in find_episode_files([tmp_path / "logs"])[0]:
        for step in read_episode(path).steps():
            by_run.setdefault(step.run_id, set()).add((step.sampling["greedy"], step.sampling["temperature"], step.episode_seed))
    assert sorted(by_run.values(), key=sorted) == sorted([{(True, 0.2, 0), (True, 0.2, 1)}, {(False, 0.2, 0), (False, 0.2, 1)}], key=sorted)


def test_the_paper_protocol_is_reproducible_per_seed(tmp_path):
    texts = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.json"
        result = runner.invoke(app, ["eval", "ezpoints", "--protocol", "paper", "--temperature", "1.5", *FAST,
                                     "--out", str(out), "--log-dir", str(tmp_path / run)])
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text())
        assert list(data["protocols"]) == ["paper"] and data["greedy"] is False
        steps = [s for p in find_episode_files([tmp_path / run])[0] for s in read_episode(p).steps()]
        assert {s.sampling["temperature"] for s in steps} == {0.2}  # the protocol fixes the temperature
        texts.append(sorted((s.episode_seed, s.step, s.response) for s in steps))
    assert texts[0] == texts[1]


def test_as_given_is_one_pass_decoded_as_the_flags_say():
    greedy = SamplingConfig(greedy=True)
    assert decoding_passes("as-given", greedy) == [("greedy", greedy)]
    [(name, sampled)] = decoding_passes("as-given", SamplingConfig(greedy=False, temperature=0.7, top_p=0.9))
    assert name == "sampled" and describe_decoding(sampled) == "sampled, temperature 0.7, top-p 0.9"
    [(name, paper)] = decoding_passes("paper", SamplingConfig(greedy=True, temperature=0.7, top_p=0.9, prompt="paper"))
    assert (paper.greedy, paper.temperature, paper.top_p, paper.prompt) == (False, 0.2, 1.0, "paper")


def test_default_rows_name_the_prompt_and_the_frames():
    assert default_row("v5", "cot") == "v5"
    assert default_row("v5", "action-only") == "v5, action-only"
    assert default_row("v5", "paper", "paper") == "v5, paper prompt, paper frames"


def test_an_unknown_protocol_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["eval", "numberline", "--protocol", "best-of-3", "--log-dir", str(tmp_path)])
    assert result.exit_code == 2 and "unknown protocol 'best-of-3'" in result.output and "Traceback" not in result.output


def test_eval_scores_a_scripted_agent_with_its_own_row(tmp_path):
    """The teacher and the privileged expert get rows of their own in docs/results.md (eval --agent)."""
    out = tmp_path / "nl.json"
    result = runner.invoke(app, ["eval", "numberline", "--agent", "expert", "--episodes", "3", "--num-envs", "3",
                                 "--out", str(out), "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["agent"] == "expert" and data["model"] == "expert" and data["row"] == "expert"
    assert data["success_rate"] == 1.0 and data["episodes"] == 3
    steps = [s for p in find_episode_files([tmp_path / "logs"])[0] for s in read_episode(p).steps()]
    assert steps and {s.agent_kind for s in steps} == {"expert"}
    bad = runner.invoke(app, ["eval", "numberline", "--agent", "oracle", "--episodes", "1"])
    assert bad.exit_code != 0 and "oracle" in bad.output


def test_alfworld_rows_name_where_their_games_come_from(tmp_path, monkeypatch):
    from vlm_agent.cli.environment import EnvOptions

    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    official, generated = tmp_path / "official", tmp_path / "seed7-n100"
    for folder in (official, generated):
        (folder / "json_2.1.1").mkdir(parents=True)
    (generated / "generated.json").write_text(json.dumps({"seed": 7, "games": []}))
    assert EnvOptions("alfworld", alfworld_data=official).split_label() == "valid_seen (official)"
    assert EnvOptions("alfworld", alfworld_data=generated, split="valid_unseen").split_label() == "valid_unseen (generated, seed 7)"
    assert EnvOptions("alfworld").split_label() == "valid_seen (generated, seed 0)"  # no data: the generated default
    monkeypatch.setenv("ALFWORLD_DATA", str(official))
    assert EnvOptions("alfworld", split="train").split_label() == "train (official)"
