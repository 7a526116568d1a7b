"""`vlm-agent model extend-vocab`: new words become single tokens, the card games' text and answers stay as they were."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import SHARED
from typer.testing import CliRunner

from vlm_agent.runtime.corpus import expert_texts
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.vocab_extension import add_words, new_words, numbered_names
from vlm_agent.cli.main import app

runner = CliRunner()
ALFWORLD_TEXT = "You arrive at cabinet 3. On the cabinet 3, you see a mug 1. Admissible actions: go to countertop 1, take mug 1 from cabinet 3"


@pytest.fixture(scope="module")
def card_texts():
    return list(expert_texts(episodes=3))


@pytest.fixture(scope="module")
def card_model(tmp_path_factory):
    """A new model whose tokenizer knows only the card games' text, as the default's did before ALFWorld."""
    out = tmp_path_factory.mktemp("models") / "cards"
    result = runner.invoke(app, ["model", "init", "--out", str(out), "--seed", "3", "--corpus-episodes", "2"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture()
def policy(card_model):
    return load_policy(card_model)


def test_chosen_words_save_tokens_and_never_occur_in_kept_text(policy, card_texts):
    words = new_words(policy.tokenizer, [ALFWORLD_TEXT] * 5, card_texts, max_new=50, min_count=5)
    assert " cabinet" in words and " countertop" in words
    assert words.index(" cabinet") < words.index(" mug")  # more tokens saved first
    assert all(word not in text for word in words for text in card_texts)
    assert " go" not in words  # " going" is in Blackjack's rules: adding " go" would split it differently
    rarer = new_words(policy.tokenizer, [ALFWORLD_TEXT] * 4, card_texts, max_new=50, min_count=5)
    assert " cabinet" in rarer and " countertop" not in rarer  # 12 times and 4 times


def test_card_text_tokenizes_as_before_and_new_words_are_one_token(policy, card_texts):
    before = [policy.tokenizer(text)["input_ids"] for text in card_texts]
    old_size = len(policy.tokenizer)
    pieces = policy.tokenizer(" cabinet", add_special_tokens=False)["input_ids"]
    assert add_words(policy, [" cabinet", " countertop"]) == 2
    assert [policy.tokenizer(text)["input_ids"] for text in card_texts] == before
    ids = policy.tokenizer(ALFWORLD_TEXT, add_special_tokens=False)["input_ids"]
    assert policy.tokenizer.convert_tokens_to_ids(" cabinet") == old_size and ids.count(old_size) == 3
    assert policy.tokenizer.decode(ids) == ALFWORLD_TEXT
    embeddings = policy.model.get_input_embeddings().weight
    assert embeddings.shape[0] == old_size + 2
    assert torch.allclose(embeddings[old_size], embeddings[pieces].mean(dim=0))


def test_numbered_names_become_one_token_each_up_past_the_largest_seen(policy, card_texts):
    observations = ["You arrive at cabinet 13. On the cabinet 13, you see a mug 1.", "On the countertop 2, you see a apple 3."]
    names = numbered_names(observations, card_texts)
    assert {" cabinet 1", " cabinet 23", " mug 6", " apple 6", " countertop 2"} <= set(names)
    assert " cabinet 24" not in names and " mug 7" not in names  # 10 past 13; at least 6 for the others
    before = [policy.tokenizer(text)["input_ids"] for text in card_texts]
    old_size = len(policy.tokenizer)
    assert add_words(policy, names) == len(names)
    assert [policy.tokenizer(text)["input_ids"] for text in card_texts] == before
    text = "go to cabinet 13, then cabinet 1 and cabinet 21; take mug 1 from countertop 2"
    ids = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = [policy.tokenizer.decode([i]) for i in ids]
    assert {" cabinet 13", " cabinet 1", " cabinet 21", " mug 1", " countertop 2"} <= set(pieces)  # whole, never " cabinet 1" + "3"
    assert all(i >= old_size for i, piece in zip(ids, pieces) if piece.startswith((" cabinet", " mug", " countertop")))
    assert policy.tokenizer.decode(ids) == text


def test_old_tokens_keep_their_logits(policy, card_texts):
    ids = torch.tensor([policy.tokenizer(card_texts[0])["input_ids"]])
    with torch.no_grad():
        before = policy.model(input_ids=ids).logits
        old_size = before.shape[-1]
        add_words(policy, [" cabinet"])
        after = policy.model(input_ids=ids).logits
    assert after.shape[-1] == old_size + 1
    assert torch.equal(after[..., :old_size], before)
    assert (after[..., old_size] < after[..., :old_size].max(dim=-1).values).all()  # the new token is no greedy pick yet


@pytest.mark.skipif(not (SHARED / "alfworld").is_dir(), reason="no real ALFWorld games in ../shared/alfworld")
def test_command_extends_from_alfworld_logs_and_refuses_an_existing_model(card_model, tmp_path, monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(SHARED / "alfworld"))
    logs = tmp_path / "logs"
    played = runner.invoke(app, ["play", "alfworld", "--agent", "expert", "--episodes", "1", "--num-envs", "1", "--headless", "--log-dir", str(logs)])
    assert played.exit_code == 0, played.output
    out = tmp_path / "extended"
    args = ["model", "extend-vocab", str(logs), "--model", str(card_model), "--out", str(out), "--version", "ext", "--min-count", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "vlm_agent_checkpoint.json").read_text())
    extended = load_policy(out)
    old_size = len(load_policy(card_model).tokenizer)
    assert extended.policy_version == "ext" and len(extended.tokenizer) == old_size + len(meta["added_words"]) > old_size
    assert " cabinet" in meta["added_words"]
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already holds a model" in again.output
    named = runner.invoke(app, ["model", "extend-vocab", str(logs), "--model", str(out), "--out", str(tmp_path / "named"),
                                "--version", "names", "--names"])
    assert named.exit_code == 0, named.output
    names = json.loads((tmp_path / "named" / "vlm_agent_checkpoint.json").read_text())["added_words"]
    assert names and all(len(name.split()) == 2 and name.split()[1].isdigit() for name in names)
    assert len(load_policy(tmp_path / "named").tokenizer) == len(extended.tokenizer) + len(names)


def test_corrupt_logs_are_skipped_and_no_text_left_is_a_one_line_error(card_model, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "ep000000.parquet").write_bytes(b"not parquet")  # skipped with a warning, then nothing is left
    result = runner.invoke(app, ["model", "extend-vocab", str(tmp_path / "empty"), "--model", str(card_model),
                                 "--out", str(tmp_path / "out"), "--version", "x"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and lines[0].startswith("skipped") and "not a readable" in result.output
    assert [line for line in lines if line.startswith("error")] == [lines[-1]] and "no logged prompts" in lines[-1]
