"""`relabel`: a student's logged ALFWorld states answered again by a teacher, offline, from the log's texts alone."""
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vlm_agent.agent.experts import ExpertAgent, RankedExpertAgent
from vlm_agent.agent.scripted import RandomAgent
from vlm_agent.cli.main import app
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession
from vlm_agent.training.relabel import relabel_logs
from vlm_agent.training.sft_data import load_sft_data

ENV_ID = "vlm_agent/ALFWorld-v0"


def play_student(root, memory):
    """A random student's two episodes on generated games, labelled by the plain teacher (`play --teacher expert`)."""
    from vlm_agent.envs.alfworld.generation import generate

    data = root / "games"
    for index, task_type in enumerate(("pick_and_place_simple", "pick_two_obj_and_place")):
        game = generate.generate_slot(generate.Slot(5, "valid_unseen", index, task_type))
        for name, content in (("game.tw-pddl", game.game), ("traj_data.json", game.traj)):
            (data / game.folder).mkdir(parents=True, exist_ok=True)
            (data / game.folder / name).write_bytes(content)
    config = LoopConfig(env_id=ENV_ID, episodes=2, num_envs=2,
                        env_kwargs={"data_dir": str(data), "split": "valid_unseen", "prefetch": 0, "max_steps": 25,
                                    "memory": memory})
    session = PlaySession(config, RandomAgent(seed=4), root / "logs", "alfworld", teacher=ExpertAgent(seed=0))
    session.loop.run()
    session.finish()
    return root / "logs"


@pytest.fixture(scope="module")
def student_logs(tmp_path_factory, cache):
    """Played with the grouped memory block, whose earlier format the relabel also reads."""
    return play_student(tmp_path_factory.mktemp("relabel"), "grouped")


def test_a_log_of_the_ranked_memory_is_rebuilt_in_its_own_style(tmp_path, cache):
    logs = play_student(tmp_path / "played", "ranked")
    counts = relabel_logs([logs], ExpertAgent(seed=0), tmp_path / "out")
    before, after = rows_of(logs), rows_of(tmp_path / "out")
    assert counts.episodes == 2 and not counts.skipped and counts.reprompted == 0 and counts.changed == 0
    assert any("likeliest first for a" in r.prompt for r in after)
    assert [(r.prompt, r.info["teacher_answer"]) for r in after] == [(r.prompt, r.info["teacher_answer"]) for r in before]


def test_a_ranked_log_relabelled_for_another_style_shows_that_block_and_its_teachers_answers(tmp_path, cache):
    """`relabel --memory ranked-head`: a log played with the ranked block becomes training data for the
    head-alone block: its prompts show that block, and the labels are what the teacher answers to it."""
    logs = play_student(tmp_path / "played", "ranked")
    counts = relabel_logs([logs], ExpertAgent(seed=0), tmp_path / "out", memory_style="ranked-head")
    before, after = rows_of(logs), rows_of(tmp_path / "out")
    assert counts.episodes == 2 and not counts.skipped and counts.changed == 0  # the same decisions
    heads = [r for r in after if "likeliest first for a" in r.prompt]
    assert heads and all("; then " in r.prompt or re.search(r"likeliest first for a \w+: [a-z]+ \d+\n", r.prompt) for r in heads)
    assert all(r.info["teacher_answer"] == b.info["teacher_answer"] for r, b in zip(after, before))
    assert sum(r.prompt != b.prompt for r, b in zip(after, before)) == counts.reprompted > 0
    for new, old in zip(after, before):  # only the unsearched line differs
        changed = [(a, b) for a, b in zip(new.prompt.splitlines(), old.prompt.splitlines()) if a != b]
        assert all(a.startswith("unsearched, likeliest first") for a, _ in changed)
    result = CliRunner().invoke(app, ["relabel", str(logs), "--out", str(tmp_path / "bad"), "--memory", "bogus"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def rows_of(path):
    return [row for episode in iter_episodes([path]) for row in episode.rows]


def test_relabel_answers_every_logged_state_as_the_teacher_would_there(student_logs, tmp_path):
    counts = relabel_logs([student_logs], RankedExpertAgent(seed=0), tmp_path / "out")
    before, after = rows_of(student_logs), rows_of(tmp_path / "out")
    assert counts.episodes == 2 and counts.steps == len(before) == len(after) > 10
    # the same actions as the plain teacher's labels (only the thoughts are written differently) ...
    assert counts.changed == 0
    assert [r.info["teacher_action"] for r in after] == [r.info["teacher_action"] for r in before]
    assert any("is likeliest at a" in r.info["teacher_answer"] for r in after)
    assert all("most likely" not in r.info["teacher_answer"] for r in after)
    # ... and everything the student did and saw is kept as logged
    for old, new in zip(before, after):
        assert (new.prompt, new.response, new.action_sent, new.frame_png) == (old.prompt, old.response, old.action_sent, old.frame_png)
    manifest = json.loads(next((tmp_path / "out").glob("*/manifest.json")).read_text())
    assert manifest["relabelled"]["teacher"] == "expert-ranked"
    data = load_sft_data([tmp_path / "out"], held_out_fraction=0.0)
    assert [(e.prompt, e.answer, e.kind) for e in data.train] == [(r.prompt, r.info["teacher_answer"], "label") for r in after]


def test_an_episode_whose_memory_does_not_rebuild_is_left_out(student_logs, tmp_path):
    source = next(student_logs.glob("*/episodes/*.parquet"))
    table = pq.read_table(source)
    prompts = table.column("prompt").to_pylist()
    prompts[-1] = prompts[-1].replace("Memory:\n", "Memory:\nat: somewhere else | ", 1)
    tampered = tmp_path / "logs" / source.parent.parent.name
    (tampered / "episodes").mkdir(parents=True)
    (tampered / "manifest.json").write_text((source.parent.parent / "manifest.json").read_text())
    pq.write_table(table.set_column(table.schema.get_field_index("prompt"), "prompt", pa.array(prompts, pa.string())),
                   tampered / "episodes" / source.name)
    for other in source.parent.glob("*.parquet"):
        if other != source:
            (tampered / "episodes" / other.name).write_bytes(other.read_bytes())
    counts = relabel_logs([tmp_path / "logs"], RankedExpertAgent(seed=0), tmp_path / "out")
    assert counts.episodes == 1 and counts.skipped == {"episodes whose memory does not rebuild from their texts": 1}


def earlier_block(prompt):
    """The prompt as the earlier memory wrote it: spent kinds left out of `unsearched:`."""
    def drop_spent(line):
        kept = [group for group in line.group(1).split("; ") if not group.endswith(" none")]
        return "\nunsearched: " + ("; ".join(kept) or "nothing") + "\n"
    return re.sub(r"\nunsearched: (.*)\n", drop_spent, prompt)


def test_a_log_of_the_earlier_memory_format_is_checked_in_it_and_trained_in_todays(student_logs, tmp_path):
    old_logs = tmp_path / "logs"
    for source in student_logs.glob("*/episodes/*.parquet"):
        table = pq.read_table(source)
        prompts = [earlier_block(p) for p in table.column("prompt").to_pylist()]
        run = old_logs / source.parent.parent.name
        (run / "episodes").mkdir(parents=True, exist_ok=True)
        (run / "manifest.json").write_text((source.parent.parent / "manifest.json").read_text())
        pq.write_table(table.set_column(table.schema.get_field_index("prompt"), "prompt", pa.array(prompts, pa.string())),
                       run / "episodes" / source.name)
    before, earlier = rows_of(student_logs), rows_of(old_logs)
    rewritten = sum(old.prompt != new.prompt for old, new in zip(before, earlier))
    assert rewritten > 5  # the random student spends kinds: the two formats differ on those steps
    counts = relabel_logs([old_logs], RankedExpertAgent(seed=0), tmp_path / "out")
    assert counts.episodes == 2 and counts.reprompted == rewritten and not counts.skipped
    assert [r.prompt for r in rows_of(tmp_path / "out")] == [r.prompt for r in before]


def test_the_command_relabels_and_refuses_scripted_episodes_and_an_occupied_folder_in_one_line(student_logs, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["relabel", str(student_logs), "--out", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert "relabelled 2 episodes" in ok.output and len(rows_of(tmp_path / "out")) == len(rows_of(student_logs))
    again = runner.invoke(app, ["relabel", str(student_logs), "--out", str(tmp_path / "out")])
    assert again.exit_code != 0 and "not an empty folder" in again.output and "Traceback" not in again.output
    expert = tmp_path / "expert"
    session = PlaySession(LoopConfig(env_id="vlm_agent/NumberLine-v0", episodes=2), ExpertAgent(seed=0), expert, "numberline")
    session.loop.run()
    session.finish()
    scripted = runner.invoke(app, ["relabel", str(expert), "--out", str(tmp_path / "out2")])
    assert scripted.exit_code != 0 and "no student episodes" in scripted.output and "play it again" in scripted.output
    assert len(scripted.output.strip().splitlines()) <= 3 and not (tmp_path / "out2").exists()
