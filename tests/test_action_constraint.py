"""Constrained action decoding: the action value can only become a legal action; the thoughts stay free."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from transformers import LogitsProcessorList

from tiny_models import build_tiny
from vlm_agent.agent.action_constraint import Banned, LegalActionProcessor, TokenStrings, allowed_by_step, allowed_ids
from vlm_agent.agent.parsing import parse_action
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.tokenizer_training import train_tokenizer
from vlm_agent.agent.vlm_inputs import prompt_inputs
from vlm_agent.runtime.agent_factory import default_model_dir

LEGAL = ["go to cabinet 1", "go to cabinet 10", "take apple 1 from countertop 1", "look"]
CORPUS = ['{"thoughts": "the apple is on countertop 1", "action": "take apple 1 from countertop 1"} go to cabinet 10 look'] * 50


@pytest.fixture(scope="module", params=["coarse", "bytes"])
def vocab(request):
    texts = CORPUS if request.param == "coarse" else ["a b c"]  # "bytes": little more than single bytes
    return TokenStrings(train_tokenizer(texts, vocab_size=600 if request.param == "coarse" else 270))


def next_texts(vocab, answer, legal=LEGAL):
    allowed = allowed_ids(vocab, answer, legal)
    return None if allowed is None else {vocab.strings[i] for i in allowed}


def stays_legal(value_so_far: str, token_text: str, legal=LEGAL) -> bool:
    """After this token the value is still on its way to some legal action, or just closed one."""
    text = (value_so_far + token_text).lstrip(" ")
    return any(t.startswith(text) or text.startswith(t) for t in ['"' + a + '"' for a in legal])


def test_thoughts_and_a_closed_value_are_free(vocab):
    assert next_texts(vocab, '{"thoughts": "go to the') is None
    assert next_texts(vocab, '{"thoughts": "say \\"hi\\" to') is None  # an escaped quote does not close them
    assert next_texts(vocab, '{"thoughts": "x", "action": "look"') is None
    assert next_texts(vocab, '{"thoughts": "x", "action": "look"}') is None


@pytest.mark.parametrize("tail", ["", ",", ', "act', ', "action"'])
def test_after_the_thoughts_close_only_the_action_key_may_follow(vocab, tail):
    """Else an answer could end, or close its object, with no action at all and so escape the constraint."""
    texts = next_texts(vocab, '{"thoughts": "x"' + tail)
    targets = [', "action": "' + action + '"' for action in LEGAL]
    heads_to_an_action = {t for t in vocab.by_text if any(g.startswith(tail + t) or (tail + t).startswith(g) for g in targets)}
    assert texts == heads_to_an_action and "}" not in texts


@pytest.mark.parametrize("answer", ["", "{", '{"', '{"act', '{"thoughts": '])
def test_an_answer_may_only_open_with_its_thoughts_or_its_action_field(vocab, answer):
    """exp24's GRPO model once answered `{ to put it need drawer 1, ...` and so had no field to constrain."""
    openings = ['{"thoughts": "', '{"action": "']
    heads = {t for t in vocab.by_text if any(o.startswith(answer + t) or (answer + t).startswith(o) for o in openings)}
    assert next_texts(vocab, answer) == heads and heads
    assert " to" not in next_texts(vocab, answer) and "}" not in next_texts(vocab, answer)


def test_an_answer_without_thoughts_is_constrained_from_its_action_key(vocab):
    texts = next_texts(vocab, '{"action": "take apple')
    assert texts and all(stays_legal('"take apple', t) for t in texts)


def test_an_answer_that_strayed_after_opening_is_left_to_the_parser(vocab):
    assert next_texts(vocab, 'sure! {"thoughts') is None


def test_past_the_thought_limit_open_thoughts_may_only_close_toward_a_legal_action(vocab):
    texts = {vocab.strings[i] for i in allowed_ids(vocab, '{"thoughts": "go to the', LEGAL, close_thoughts=True)}
    targets = ['", "action": "' + action + '"' for action in LEGAL]  # the closing quote, the key, the value
    assert texts == {vocab.strings[i] for i in vocab.starting_with('"') if any(g.startswith(vocab.strings[i]) for g in targets)}
    assert '"' in texts  # the bare closing quote is always among them
    assert allowed_ids(vocab, '{"thoughts": "go to the', LEGAL) is None  # before the limit: free
    escaping = allowed_ids(vocab, '{"thoughts": "say \\', LEGAL, close_thoughts=True)  # a quote here would be escaped:
    assert {vocab.strings[i] for i in escaping} == {"\\"}  # the escape is closed first
    assert allowed_ids(vocab, 'sure {"act', LEGAL, close_thoughts=True) is None  # strayed: no thoughts string to close
    assert allowed_ids(vocab, '{"act', LEGAL, close_thoughts=True) == allowed_ids(vocab, '{"act', LEGAL)  # still opening
    closed = allowed_ids(vocab, '{"thoughts": "x"', LEGAL, close_thoughts=True)
    assert closed == allowed_ids(vocab, '{"thoughts": "x"', LEGAL)  # once closed, the usual constraint


def test_after_the_key_only_the_opening_of_a_legal_value_may_come(vocab):
    texts = next_texts(vocab, '{"thoughts": "x", "action": ')
    assert '"' in texts and all(stays_legal("", t) for t in texts)


@pytest.mark.parametrize("value_so_far", ['"', '"go to cabinet 1', '"ta', '"take apple 1 from countertop '])
def test_inside_the_value_exactly_the_tokens_that_stay_legal_are_allowed(vocab, value_so_far):
    texts = next_texts(vocab, '{"thoughts": "x", "action": ' + value_so_far)
    assert texts == {t for t in vocab.by_text if stays_legal(value_so_far, t)}
    assert texts  # a byte-level vocabulary can always go on


def test_a_complete_value_may_close_or_grow_into_a_longer_action(vocab):
    texts = next_texts(vocab, '{"action": "go to cabinet 1')
    assert '"' in texts and any(t.startswith("0") for t in texts)
    assert not any(t.startswith("2") or t.startswith(" ") for t in texts)


def test_a_value_already_off_the_legal_actions_is_left_to_the_parser(vocab):
    assert next_texts(vocab, '{"action": "open drawer') is None
    assert next_texts(vocab, '{"action": "look', legal=[]) is None


def test_the_processor_masks_only_rows_inside_a_value():
    tokenizer = train_tokenizer(CORPUS, vocab_size=600)
    vocab = TokenStrings(tokenizer)
    prompt = tokenizer.encode("Task: answer.", add_special_tokens=False)
    inside = tokenizer.encode('{"thoughts": "x", "action": "go to cab', add_special_tokens=False)
    free = tokenizer.encode('{"thoughts": "go to', add_special_tokens=False)
    width = max(len(inside), len(free))
    pad = tokenizer.pad_token_id  # decodes to nothing, so it only aligns the rows
    input_ids = torch.tensor([prompt + [pad] * (width - len(inside)) + inside, prompt + [pad] * (width - len(free)) + free])
    scores = torch.randn(2, len(tokenizer))
    out = LegalActionProcessor(vocab, [LEGAL, LEGAL], len(prompt), {tokenizer.eos_token_id})(input_ids, scores.clone())
    kept = torch.isfinite(out[0]).nonzero().flatten().tolist()
    assert kept == allowed_ids(vocab, '{"thoughts": "x", "action": "go to cab', LEGAL)
    assert all(stays_legal('"go to cab', vocab.strings[i]) for i in kept)
    assert torch.equal(out[0][kept], scores[0][kept])  # allowed tokens keep their logits
    eos = tokenizer.eos_token_id  # in the thoughts: untouched but for the end token, which may not end them
    assert out[1][eos] == float("-inf")
    assert torch.equal(out[1][torch.arange(len(tokenizer)) != eos], scores[1][torch.arange(len(tokenizer)) != eos])


def test_open_thoughts_may_not_end_but_everything_else_is_free(vocab):
    assert allowed_ids(vocab, '{"thoughts": "go to the', LEGAL, eos_ids=[7]) == Banned((7,))
    assert allowed_ids(vocab, '{"thoughts": "say \\', LEGAL, eos_ids=[7]) == Banned((7,))  # mid-escape: still open
    assert allowed_ids(vocab, '{"thoughts": "x", "action": "look"', LEGAL, eos_ids=[7]) is None  # after the value: free
    assert allowed_ids(vocab, 'sure {"act', LEGAL, eos_ids=[7]) is None  # off the format: the parser's


def prompts_with_answer_begun(policy, rows: int, begun: str):
    """A blank frame's prompt for `rows` rows, each answer already begun with `begun`: the inputs, the prompt's
    length (where the processor's steps count from, so `begun` counts as generated) and `begun`'s token count."""
    frame = torch.zeros(64, 64, 3, dtype=torch.uint8).numpy()
    inputs = prompt_inputs(policy.processor, [frame] * rows, ["Where next?"] * rows)
    prefix = torch.tensor(policy.tokenizer.encode(begun, add_special_tokens=False))
    prompt_len = inputs["input_ids"].shape[1]
    inputs["input_ids"] = torch.cat([inputs["input_ids"], prefix.expand(rows, -1)], 1)
    inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones(rows, len(prefix), dtype=torch.long)], 1)
    return inputs, prompt_len, len(prefix)


def test_sampling_from_a_random_model_inside_the_value_yields_legal_actions(tmp_path):
    policy = load_policy(build_tiny("idefics3", tmp_path / "tiny"), temperature=1.0)
    vocab = TokenStrings(policy.tokenizer)
    inputs, prompt_len, _ = prompts_with_answer_begun(policy, 6, '{"thoughts": "x", "action": ')
    processor = LegalActionProcessor(vocab, [LEGAL] * 6, prompt_len, policy.eos_ids)
    torch.manual_seed(0)
    out = policy.model.generate(**inputs, do_sample=True, top_k=0, max_new_tokens=20, pad_token_id=policy.pad_id,
                                eos_token_id=sorted(policy.eos_ids), logits_processor=LogitsProcessorList([processor]))
    for row in out[:, prompt_len:]:
        text = policy.tokenizer.decode(row, skip_special_tokens=True)
        parse = parse_action(text + '"', LEGAL)  # 20 tokens may stop inside the value
        assert parse.value is not None and any(a.startswith(parse.value) for a in LEGAL), text


@pytest.mark.parametrize("seed", range(3))
def test_a_random_model_past_its_thought_limit_always_ends_in_a_legal_action(tmp_path, seed):
    """Whatever the thoughts hold and however finely the model spells the rest, the limit leaves room for it."""
    policy = load_policy(build_tiny("idefics3", tmp_path / "tiny"), temperature=1.0, max_new_tokens=64, constrain_actions=True)
    vocab = TokenStrings(policy.tokenizer)
    inputs, prompt_len, begun = prompts_with_answer_begun(policy, 8, '{"thoughts": "')
    processor = LegalActionProcessor(vocab, [LEGAL] * 8, prompt_len, policy.eos_ids, policy.thought_limits([LEGAL] * 8))
    torch.manual_seed(seed)
    out = policy.model.generate(**inputs, do_sample=True, top_k=0, max_new_tokens=64 - begun, pad_token_id=policy.pad_id,
                                eos_token_id=sorted(policy.eos_ids), logits_processor=LogitsProcessorList([processor]))
    for row in out[:, prompt_len:]:
        text = policy.tokenizer.decode(row, skip_special_tokens=True)
        assert parse_action(text, LEGAL).ok, text


@pytest.mark.parametrize("seed", range(3))
def test_a_random_model_answering_from_nothing_opens_the_format_and_ends_in_a_legal_action(tmp_path, seed):
    """The whole answer is constrained from its first token: a random model cannot stray before its first field."""
    policy = load_policy(build_tiny("idefics3", tmp_path / "tiny"), temperature=1.0, max_new_tokens=64, constrain_actions=True)
    frame = torch.zeros(64, 64, 3, dtype=torch.uint8).numpy()
    inputs = prompt_inputs(policy.processor, [frame] * 8, ["Where next?"] * 8)
    prompt_len = inputs["input_ids"].shape[1]
    processor = LegalActionProcessor(TokenStrings(policy.tokenizer), [LEGAL] * 8, prompt_len, policy.eos_ids,
                                     policy.thought_limits([LEGAL] * 8))
    torch.manual_seed(seed)
    out = policy.model.generate(**inputs, do_sample=True, top_k=0, max_new_tokens=64, pad_token_id=policy.pad_id,
                                eos_token_id=sorted(policy.eos_ids), logits_processor=LogitsProcessorList([processor]))
    for row in out[:, prompt_len:]:
        text = policy.tokenizer.decode(row, skip_special_tokens=True)
        assert text.startswith(('{"thoughts"', '{"action"')) and parse_action(text, LEGAL).ok, text


@pytest.fixture(scope="module")
def default_policy():
    return load_policy(default_model_dir(), greedy=True, max_new_tokens=64, constrain_actions=True)


def restricted_observations(n=4):
    """NumberLine starts where only one of the two moves is legal, so the constraint must often override the model."""
    import gymnasium as gym

    import vlm_agent.envs  # noqa: F401
    from vlm_agent.runtime.observation import observation_from

    env = gym.make("vlm_agent/NumberLine-v0")
    observations = []
    for seed in range(n):
        frame, info = env.reset(seed=seed)
        obs = observation_from("vlm_agent/NumberLine-v0", frame, info)
        observations.append(dataclasses.replace(obs, legal_actions=(obs.legal_actions[seed % len(obs.legal_actions)],)))
    return observations


def test_constrained_policy_plays_only_given_actions_and_logs_the_constrained_logprobs(default_policy):
    observations = restricted_observations()
    decisions = default_policy.act(observations)
    assert default_policy.sampling["constrain_actions"] is True
    for obs, decision in zip(observations, decisions):
        assert decision.parse.ok and decision.parse.action == obs.legal_actions[0], decision.text
    scored = [[o.frame for o in observations], [d.prompt for d in decisions], [d.token_ids for d in decisions]]
    constrained = default_policy.evaluate(*scored, [list(o.legal_actions) for o in observations])
    free = default_policy.evaluate(*scored)
    raised = 0
    for row, d in enumerate(decisions):
        n = len(d.token_ids)
        logged, mine, raw = torch.tensor(d.logprobs), constrained.token_logprobs[row, :n], free.token_logprobs[row, :n]
        assert torch.allclose(mine, logged, atol=1e-4)  # evaluate re-scores what acting logged
        steps = allowed_by_step(default_policy.token_strings, d.token_ids, observations[row].legal_actions,
                                default_policy.thought_limits([observations[row].legal_actions])[0], sorted(default_policy.eos_ids))
        masked = torch.zeros(n, dtype=torch.bool)
        masked[[k for k, allowed in steps.items() if not isinstance(allowed, Banned)]] = True
        assert torch.all(masked[torch.tensor(d.action_mask)])  # the whole value is decoded constrained
        # the thoughts stay free but for the end token: renormalised over the rest, never lower
        assert torch.all(mine[~masked] >= raw[~masked] - 1e-5)
        assert torch.all(mine >= raw - 1e-5)  # renormalising over fewer tokens never lowers a kept one
        raised += int(((mine - raw) > 0.5).sum())
        assert torch.all(torch.isfinite(constrained.entropy[row]))
    assert raised, "some forced action token should be far likelier under the constraint than for the free model"


def test_a_thought_cut_by_the_token_budget_still_ends_in_a_legal_action_that_evaluate_rescores():
    """The default model's NumberLine thoughts run past 30 tokens: cut there, free decoding has no action
    field; constrained decoding closes the thoughts in time and acts legally, and `evaluate` re-scores
    the forced steps as generation logged them."""
    observations = restricted_observations()
    free = load_policy(default_model_dir(), greedy=True, max_new_tokens=30, constrain_actions=False)
    assert all(d.parse.status.value == "no_action_field" for d in free.act(observations))
    policy = load_policy(default_model_dir(), greedy=True, max_new_tokens=30, constrain_actions=True)
    decisions = policy.act(observations)
    for obs, d in zip(observations, decisions):
        assert d.parse.ok and d.parse.action == obs.legal_actions[0] and len(d.token_ids) <= 30, d.text
    legal = [list(o.legal_actions) for o in observations]
    scored = policy.evaluate([o.frame for o in observations], [d.prompt for d in decisions], [d.token_ids for d in decisions], legal)
    for row, d in enumerate(decisions):
        assert torch.allclose(scored.token_logprobs[row, : len(d.token_ids)], torch.tensor(d.logprobs), atol=1e-4)


def test_ppo_on_constrained_logs_starts_at_ratio_one_only_when_scored_constrained(tmp_path):
    from test_finetune import write_logs
    from vlm_agent.training.finetune import read_logs
    from vlm_agent.training.ppo_config import PPOConfig
    from vlm_agent.training.ppo_data import build_ppo_samples
    from vlm_agent.training.ppo_update import ppo_update

    policy = load_policy(default_model_dir(), greedy=True, max_new_tokens=64, constrain_actions=True)
    observations = restricted_observations()
    write_logs(policy, tmp_path / "logs" / "run", str(default_model_dir()), len(observations), observations=observations)
    samples, _ = build_ppo_samples(read_logs([tmp_path / "logs"], warn=print))
    assert [s.legal_actions for s in samples] == [list(o.legal_actions) for o in observations]
    config = PPOConfig(update_epochs=1, minibatch_size=len(samples))
    frozen = torch.optim.SGD(policy.parameters(), lr=0.0)
    metrics = ppo_update(policy, samples, frozen, config)
    assert metrics["first_minibatch"]["max_abs_ratio_minus_1"] < 1e-4
    assert torch.isfinite(torch.tensor(metrics["grad_norm"]))  # masked tokens add no nan through the entropy
    raw = [dataclasses.replace(s, legal_actions=None) for s in samples]  # as the logs of 55f561d were trained
    assert ppo_update(policy, raw, frozen, config)["first_minibatch"]["max_abs_ratio_minus_1"] > 0.1


def test_ppo_rescores_forced_thought_closings_with_the_budget_each_step_was_played_with(tmp_path):
    """Played with 30 new tokens (thoughts forced closed), trained by a policy set to 64: still ratio one."""
    from test_finetune import write_logs
    from vlm_agent.training.finetune import read_logs
    from vlm_agent.training.ppo_config import PPOConfig
    from vlm_agent.training.ppo_data import build_ppo_samples
    from vlm_agent.training.ppo_update import ppo_update

    short = load_policy(default_model_dir(), greedy=True, max_new_tokens=30, constrain_actions=True)
    observations = restricted_observations()
    write_logs(short, tmp_path / "logs" / "run", str(default_model_dir()), len(observations), observations=observations)
    samples, _ = build_ppo_samples(read_logs([tmp_path / "logs"], warn=print))
    assert {s.max_new_tokens for s in samples} == {30}
    policy = load_policy(default_model_dir(), greedy=True, max_new_tokens=64, constrain_actions=True)
    config = PPOConfig(update_epochs=1, minibatch_size=len(samples))
    frozen = torch.optim.SGD(policy.parameters(), lr=0.0)
    assert ppo_update(policy, samples, frozen, config)["first_minibatch"]["max_abs_ratio_minus_1"] < 1e-4
    unknown = [dataclasses.replace(s, max_new_tokens=None) for s in samples]  # scored with the policy's own 64
    assert ppo_update(policy, unknown, frozen, config)["first_minibatch"]["max_abs_ratio_minus_1"] > 0.1
