"""DAgger labels: a teacher answers the states the student reaches; sft trains on its answers there."""
from typer.testing import CliRunner

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.scripted import RandomAgent
from vlm_agent.cli.main import app
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.play import PlaySession
from vlm_agent.runtime.records import RecordBus
from vlm_agent.training.sft_data import load_sft_data

NUMBERLINE = "vlm_agent/NumberLine-v0"


def test_the_teacher_labels_every_step_while_the_students_actions_are_played():
    bus, records = RecordBus(), []
    bus.subscribe(records.append)
    loop = RolloutLoop(LoopConfig(env_id=NUMBERLINE, episodes=6, num_envs=2), RandomAgent(seed=3), bus, "t", teacher=ExpertAgent(seed=0))
    loop.run()
    loop.close()
    assert records and all(r.agent_kind == "random" for r in records)
    for r in records:
        assert r.action_sent == r.parsed_action  # the student's choice, not the teacher's
        assert r.info["teacher_answer"] and r.info["teacher_action"] in r.legal_actions
    # The student wanders: on some steps the teacher would have done otherwise, which is what DAgger adds.
    assert any(r.info["teacher_action"] != r.action_sent for r in records)


def test_sft_takes_the_teachers_answers_on_the_students_steps_and_nothing_unlabelled(tmp_path):
    for teacher in (ExpertAgent(seed=0), None):
        session = PlaySession(LoopConfig(env_id=NUMBERLINE, episodes=4, num_envs=2), RandomAgent(seed=1), tmp_path / ("dagger" if teacher else "plain"),
                              "numberline", teacher=teacher)
        session.loop.run()
        session.finish()
    plain = load_sft_data([tmp_path / "plain"], held_out_fraction=0.0)
    assert plain.train == [] and sum(plain.skipped.values()) > 0
    data = load_sft_data([tmp_path / "dagger"], held_out_fraction=0.0)
    rows = [row for episode in iter_episodes([tmp_path / "dagger"]) for row in episode.rows]
    assert len(data.train) == len(rows) and {e.kind for e in data.train} == {"label"}
    assert [(e.prompt, e.answer) for e in data.train] == [(r.prompt, r.info["teacher_answer"]) for r in rows]


def test_play_teacher_flag_logs_labels_and_refuses_a_model_as_teacher(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["play", "numberline", "--agent", "random", "--teacher", "expert", "--episodes", "2", "--headless",
                             "--log-dir", str(tmp_path / "logs")])
    assert ok.exit_code == 0, ok.output
    rows = [row for episode in iter_episodes([tmp_path / "logs"]) for row in episode.rows]
    assert rows and all(row.info["teacher_answer"] for row in rows)
    bad = runner.invoke(app, ["play", "numberline", "--agent", "random", "--teacher", "vlm", "--episodes", "1", "--headless",
                              "--log-dir", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "scripted agent" in bad.output and "Traceback" not in bad.output


def test_every_expert_kind_that_writes_thoughts_is_teacher_data(tmp_path):
    # every variant, so a new one that sft would skip as a student's unlabelled steps fails here (the
    # privileged expert did: the recipe's v4 stage trained on none of its ALFWorld answers)
    from vlm_agent.agent import experts

    variants = [c for c in vars(experts).values() if isinstance(c, type) and issubclass(c, ExpertAgent)]  # not tests' own
    assert {cls.kind for cls in variants} >= {"expert", "expert-ranked", "expert-shuffled", "expert-privileged"}
    for agent in (cls(seed=0) for cls in variants):
        session = PlaySession(LoopConfig(env_id=NUMBERLINE, episodes=3), agent, tmp_path / agent.kind, "numberline")
        session.loop.run()
        session.finish()
        rows = [row for episode in iter_episodes([tmp_path / agent.kind]) for row in episode.rows]
        data = load_sft_data([tmp_path / agent.kind], held_out_fraction=0.0)
        assert {row.agent_kind for row in rows} == {agent.kind}
        assert [(e.prompt, e.answer, e.kind) for e in data.train] == [(r.prompt, r.response, "answer") for r in rows]
