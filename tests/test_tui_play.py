"""The live view of `vlm-agent play`, driven with textual's Pilot."""
import asyncio
import statistics
import threading
import time

from tui_fakes import SlowAgent, StreamingFakeVLM, numberline_session, wait_until

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.human import HumanAgent
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.tui.play_app import PlayApp
from vlm_agent.tui.play_control import STEP_SECONDS


def shown(app, selector: str) -> str:
    return str(app.query_one(selector).content)


def answer_shown(app) -> str:
    return shown(app, "#answer-text")


async def quit_app(app, pilot, key: str = "q"):
    """Press the quit key and let the app run until it exits (it waits for the step in progress)."""
    await pilot.press(key)
    await wait_until(pilot, lambda: app.return_code is not None)


def run(scenario):
    return asyncio.run(scenario())


def finish(app):
    """Close the session as the launcher does once the app has exited."""
    app.stop_runtime()
    assert app.stopped.wait(10)
    return app.close_session()


def test_expert_play_shows_frame_answer_action_and_stats_and_q_keeps_the_log(tmp_path):
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=3)
    app = PlayApp(session, speed=0)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.ended is not None)
            assert app.query_one("#frame-image").image is not None
            assert '"action"' in answer_shown(app)
            assert "✓ ok" in shown(app, "#action") and "sent" in shown(app, "#action")
            assert "reward" in shown(app, "#facts") and "return +1.00" in shown(app, "#facts")
            assert app.stats.rows[0].episodes == 3 and app.stats.rows[0].success_rate == 1.0
            assert "finished" in shown(app, "#status")
            await quit_app(app, pilot)

    run(scenario)
    summary = finish(app)
    episodes = list(iter_episodes([tmp_path]))
    assert summary["episodes_written"] == 3 == len(episodes)
    assert {step.agent_kind for episode in episodes for step in episode.steps()} == {"expert"}


def test_quitting_mid_run_finishes_the_log_and_keeps_every_finished_episode(tmp_path):
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=10_000)
    app = PlayApp(session, speed=0)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.stats.rows and app.stats.rows[0].episodes >= 3)
            await quit_app(app, pilot)

    run(scenario)
    summary = finish(app)
    assert summary["episodes_written"] >= 3
    assert len(list(iter_episodes([tmp_path]))) == summary["episodes_written"]
    assert (tmp_path / summary["run_id"] / "summary.json").is_file()


def test_quitting_mid_episode_logs_the_episode_in_progress_as_truncated(tmp_path):
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=5)  # seed 0's first episode takes two steps
    app = PlayApp(session, paused=True, speed=0)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("s")
            await wait_until(pilot, lambda: app.views[0].record is not None)
            assert not app.views[0].record.done
            await quit_app(app, pilot)

    run(scenario)
    summary = finish(app)
    [episode] = iter_episodes([tmp_path])
    [step] = episode.steps()
    assert step.truncated and not step.terminated and step.success is False and step.info["stopped_by_user"]
    assert summary["episodes_written"] == 1 and summary["episodes_kept_unfinished"] == 1 and summary["episodes_dropped"] == 0


def test_pause_single_step_speed_and_next_episode(tmp_path):
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=50)
    app = PlayApp(session, paused=True, speed=0)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            assert session.stats.steps == 0 and "paused" in shown(app, "#status")
            await pilot.press("s")
            await wait_until(pilot, lambda: app.views[0].record is not None)
            await pilot.pause(0.2)
            assert session.stats.steps == 1, "a single step runs exactly one step"
            await pilot.press("n")  # runs to the end of the shown episode, then pauses
            await wait_until(pilot, lambda: app.views[0].record.done and app.control.paused)
            steps = session.stats.steps
            assert session.loop.episodes_finished == 1
            await pilot.pause(0.2)
            assert session.stats.steps == steps
            await pilot.press("minus", "minus")
            assert app.control.step_seconds == STEP_SECONDS[2]
            await pilot.press("plus")
            assert app.control.step_seconds == STEP_SECONDS[1]
            await pilot.press("space")
            await wait_until(pilot, lambda: session.stats.steps > steps)
            assert "▶" in shown(app, "#status")
            await quit_app(app, pilot)

    run(scenario)
    finish(app)


def test_status_counts_an_episode_as_soon_as_its_last_step_is_shown(tmp_path):
    """The loop counts a finished episode after publishing its record: the screen must not read the loop."""
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=50)
    app = PlayApp(session, paused=True, speed=0)
    gate = threading.Event()

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            # Subscribed after the app: holds the worker between publishing the last record and counting it.
            session.bus.subscribe(lambda record: record.done and gate.wait(10))
            await pilot.press("n")
            await wait_until(pilot, lambda: app.views[0].record is not None and app.views[0].record.done)
            assert session.loop.episodes_finished == 0
            assert "episodes 1/50" in shown(app, "#status")
            gate.set()
            await quit_app(app, pilot)

    run(scenario)
    finish(app)


def test_switching_between_parallel_environments(tmp_path):
    session = numberline_session(ExpertAgent(seed=0), tmp_path, episodes=4, num_envs=2)
    app = PlayApp(session, speed=0)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.ended is not None)
            assert "env 1/2" in shown(app, "#status")
            first = app.query_one("#frame-image").image
            await pilot.press("e")
            assert "env 2/2" in shown(app, "#status")
            assert app.query_one("#frame-image").image is not first
            assert app.views[1].record.env_index == 1
            await pilot.press("e")
            assert "env 1/2" in shown(app, "#status")

    run(scenario)
    finish(app)


def test_streamed_tokens_appear_before_the_step_ends(tmp_path):
    agent = StreamingFakeVLM(token_seconds=0.005)
    session = numberline_session(agent, tmp_path, episodes=1)
    app = PlayApp(session, speed=0)
    partial_seen = []

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            def streaming():
                view = app.views[0]
                if view.turn is not None and view.partial and len(view.partial) > 10:
                    partial_seen.append(answer_shown(app))
                    return True
                return False

            await wait_until(pilot, streaming)
            await pilot.press("space")  # pause: the step in progress finishes and stays on screen
            await wait_until(pilot, lambda: app.views[0].record is not None and app.views[0].turn is None)
            assert "value +0.50" in shown(app, "#facts") and "policy fake-v1" in shown(app, "#facts")
            await quit_app(app, pilot)

    run(scenario)
    finish(app)
    assert agent.stream_callback is not None, "the UI hooks the agent's stream"
    assert partial_seen and partial_seen[0].endswith("▌"), "a partial answer is shown with a cursor"
    assert partial_seen[0][:-1] in {partials[0] for partials in agent.streamed}


def test_key_presses_are_handled_within_100ms_while_a_slow_agent_thinks(tmp_path):
    agent = SlowAgent(seconds=30)
    session = numberline_session(agent, tmp_path, episodes=1)
    app = PlayApp(session, speed=0)
    latencies = []

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            handled = []
            original = app.action_next_env

            def timed_next_env():
                handled.append(time.perf_counter())
                original()

            app.action_next_env = timed_next_env
            await wait_until(pilot, agent.inside.is_set)
            for _ in range(5):
                pressed = time.perf_counter()
                await pilot.press("e")
                latencies.append(handled[-1] - pressed)
                await pilot.pause(0.05)
            assert agent.inside.is_set(), "the agent was still thinking during every key press"
            assert "thinking" in answer_shown(app)
            agent.release.set()
            await quit_app(app, pilot)

    run(scenario)
    finish(app)
    print("key press latencies (s):", [round(x, 4) for x in latencies])
    # Median within the 100 ms the issue asks for; the worst case gets slack for a loaded machine.
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 0.3, latencies


def test_a_human_episode_is_played_from_the_keyboard_and_logged_as_human_data(tmp_path):
    session = numberline_session(HumanAgent(prompt_variant="cot"), tmp_path, episodes=1)
    app = PlayApp(session)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            panel = app.query_one("#human")
            await wait_until(pilot, lambda: panel.display and app.views[0].awaiting_human)
            assert "admissible: +, -" in shown(app, "#action")
            await pilot.press("x", "enter")  # not admissible: refused, nothing is sent
            assert "not one admissible action" in shown(app, "#human-hint")
            assert session.stats.steps == 0
            while app.ended is None:
                await wait_until(pilot, lambda: app.views[0].awaiting_human or app.ended is not None)
                if app.ended is not None:
                    break
                state, steps = session.loop.active_slots()[0].obs.state, session.stats.steps
                await pilot.press("ctrl+u", "+" if state["current"] < state["target"] else "-", "enter")
                await wait_until(pilot, lambda: session.stats.steps > steps)
            assert not panel.display
            await quit_app(app, pilot)

    run(scenario)
    summary = finish(app)
    (episode,) = iter_episodes([tmp_path])
    steps = list(episode.steps())
    assert summary["episodes_written"] == 1 and episode.success
    assert {step.agent_kind for step in steps} == {"human"}
    assert all(step.parse_status == "ok" and step.logprobs is None for step in steps)
    assert steps[0].response in ('{"action": "+"}', '{"action": "-"}')


def test_quitting_while_the_human_is_asked_stops_the_runtime(tmp_path):
    session = numberline_session(HumanAgent(), tmp_path, episodes=1)
    app = PlayApp(session)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.views[0].awaiting_human)
            await quit_app(app, pilot, "ctrl+q")  # the input has the keyboard, so q would be typed

    run(scenario)
    summary = finish(app)
    assert summary["episodes_written"] == 0 and summary["episodes"] == 0


class BrokenAgent(ExpertAgent):
    def act(self, observations):
        raise RuntimeError("the model fell over")


def test_a_runtime_error_is_shown_and_kept_for_the_launcher_to_raise(tmp_path):
    session = numberline_session(BrokenAgent(seed=0), tmp_path, episodes=2)
    app = PlayApp(session)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.ended is not None)
            assert "stopped: RuntimeError: the model fell over" in shown(app, "#status")
            await quit_app(app, pilot)

    run(scenario)
    summary = finish(app)
    assert isinstance(app.error, RuntimeError) and summary["episodes_written"] == 0


def test_alfworld_play_shows_the_memory_block_beside_the_observation(tmp_path, cache):
    """`vlm-agent play alfworld`'s live view: the task, the observation, then the episode's memory."""
    from vlm_agent.envs.alfworld.generation import generate
    from vlm_agent.runtime.loop import LoopConfig
    from vlm_agent.runtime.play import PlaySession

    data = tmp_path / "games"
    game = generate.generate_slot(generate.Slot(5, "valid_unseen", 0, "pick_and_place_simple"))
    for name, content in (("game.tw-pddl", game.game), ("traj_data.json", game.traj)):
        (data / game.folder).mkdir(parents=True, exist_ok=True)
        (data / game.folder / name).write_bytes(content)
    config = LoopConfig(env_id="vlm_agent/ALFWorld-v0", episodes=1, num_envs=1,
                        env_kwargs={"data_dir": str(data), "split": "valid_unseen", "prefetch": 0, "max_steps": 6})
    app = PlayApp(PlaySession(config, ExpertAgent(seed=0), tmp_path / "logs", "alfworld"), speed=0)

    async def scenario():
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_until(pilot, lambda: "unsearched, likeliest first for a " in shown(app, "TaskView"))
            before, header, block = shown(app, "TaskView").partition("\nmemory\n")
            assert header and before.strip() and block.startswith("at: ")  # the task and observation, then the block
            await quit_app(app, pilot)

    run(scenario)
    finish(app)
