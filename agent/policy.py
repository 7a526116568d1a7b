"""The VLM policy: any Hugging Face image-text-to-text model plus a value head, acting on a batch."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from transformers import LogitsProcessorList

from vlm_agent.agent.device import Placement
from vlm_agent.agent.action_constraint import (
    ACTION_OPENING,
    LegalActionProcessor,
    TokenStrings,
    allowed_by_step,
    constrained_logprobs,
)
from vlm_agent.agent.interface import Decision, Observation
from vlm_agent.agent.keyed_sampling import KeyedGumbelSampler
from vlm_agent.agent.model_loading import load_vlm
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.agent.streaming import BatchTextStreamer
from vlm_agent.agent.threads import configure_torch_threads
from vlm_agent.agent.token_masks import generated_offsets, masks_from_offsets
from vlm_agent.agent.value_head import ValueHead
from vlm_agent.agent.vlm_inputs import prompt_inputs, with_responses


@dataclass
class Evaluation:
    """Re-scored responses: per-token log-probs and entropies (0 past each response's end), values."""

    token_logprobs: torch.Tensor  # (batch, max response length)
    entropy: torch.Tensor  # (batch, max response length)
    response_mask: torch.Tensor  # (batch, max response length) bool
    values: torch.Tensor  # (batch,)


class VLMPolicy:
    """Acts with a vision-language model; `evaluate` re-scores answers for training.

    Log-probs are those of the model's own distribution (temperature 1), the policy PPO trains;
    the sampling temperature only shapes exploration. They are read from generation's logits, so
    acting needs no second forward pass. With `constrain_actions` that distribution is renormalised
    over the legal action tokens (see action_constraint), in acting and in `evaluate` alike.
    """

    kind = "vlm"

    def __init__(
        self,
        model,
        processor,
        value_head: ValueHead,
        *,
        policy_version: str = "",
        prompt_variant: str = SamplingConfig.prompt,
        greedy: bool = SamplingConfig.greedy,
        temperature: float = SamplingConfig.temperature,
        top_p: float = SamplingConfig.top_p,
        max_new_tokens: int = SamplingConfig.max_new_tokens,
        constrain_actions: bool | None = False,  # None: off (runtime's load_policy resolves a model's own default first)
        avoid_repeats: bool | None = False,  # the same; the runtime loop reads it from `sampling` and names the actions
        seed: int = 0,
        model_root: str = "",
    ):
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.value_head = value_head
        self.policy_version = policy_version
        self.model_root = model_root  # logged with every step: which lineage the versions belong to
        self.prompt_variant = prompt_variant
        self.sampling = {"greedy": greedy, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens}
        # Logged with every step (and in the manifest) as the plain bool it resolved to; logs written
        # before the option lack it, which reads as free decoding.
        self.sampling["constrain_actions"] = bool(constrain_actions)
        if constrain_actions:
            # Marks logs whose log-probs are the constrained policy's (older constrained logs hold raw ones).
            self.sampling["constrained_logprobs"] = True
        if avoid_repeats and not constrain_actions:
            raise ValueError("avoiding repeated actions needs constrained actions (--constrain-actions)")
        if avoid_repeats:
            # Logged with every step; the actions avoided at a step are in its info["avoided_actions"].
            self.sampling["avoid_repeats"] = True
        self._token_strings = None
        self.stream_callback: Callable[[list[str]], None] | None = None
        self._generator_seed = seed
        self.placement = Placement()  # from_pretrained sets the one it loaded with (reloads keep it)
        torch.manual_seed(seed)

    @classmethod
    def from_pretrained(cls, folder: Path, placement: Placement | None = None, **kwargs) -> "VLMPolicy":
        """Load a model folder with its value head; the policy version and model root default to the folder.

        `placement` (agent.device.resolve) says where and in what dtype; default the CPU in fp32.
        The value head stays fp32 on the same device. A checkpoint root (versions under LATEST) is
        the runtime's: runtime.checkpoints.load_policy.
        """
        configure_torch_threads()
        placement = placement or Placement()
        model, processor = load_vlm(Path(folder), placement.dtype, placement.device, placement.attn_implementation)
        head, _ = ValueHead.load_or_new(Path(folder), hidden_size(model))
        kwargs.setdefault("model_root", str(Path(folder).resolve()))
        policy = cls(model, processor, head.to(placement.device), policy_version=kwargs.pop("policy_version", Path(folder).name), **kwargs)
        policy.placement = placement
        return policy

    def save_pretrained(self, folder: Path, state_dict: dict | None = None) -> None:
        """A folder plain transformers can load, with the value head beside the weights (`state_dict`: gathered FSDP weights)."""
        folder = Path(folder)
        self.model.save_pretrained(folder, state_dict=state_dict)
        self.processor.save_pretrained(folder)
        self.value_head.save(folder)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def placed(self, inputs: dict) -> dict:
        """Model inputs moved to the model's device, floating ones (pixels) cast to its dtype; untouched on the CPU in fp32."""
        device, dtype = self.device, self.model.dtype
        if device.type == "cpu" and dtype == torch.float32:
            return inputs
        return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if torch.is_tensor(v) else v for k, v in inputs.items()}

    @property
    def token_strings(self) -> TokenStrings:
        if self._token_strings is None:
            self._token_strings = TokenStrings(self.tokenizer)
        return self._token_strings

    @property
    def eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return set(eos if isinstance(eos, (list, tuple)) else [eos])

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else min(self.eos_ids)

    def thought_limits(self, legal_actions: Sequence[Sequence[str] | None],
                       budgets: Sequence[int | None] | None = None) -> list[int | None]:
        """Per row, the step from which open thoughts may only close (see action_constraint): the last at
        which a backslash closing an escape, the closing quote, the action key, the longest legal action,
        the closing brace and the end token still fit in `max_new_tokens`, counted in characters, since a
        constrained model may spell them a character a token. None for a row without legal actions.
        `budgets`: each row's `max_new_tokens` where it differs from this policy's (a logged step's)."""
        budgets = budgets if budgets is not None else [None] * len(legal_actions)
        return [None if not actions else (budget or self.sampling["max_new_tokens"])
                - len('\\"' + ACTION_OPENING + '"' + max(actions, key=len) + '"}') - 1
                for actions, budget in zip(legal_actions, budgets)]

    @property
    def suppressed_ids(self) -> list[int]:
        """Special tokens an answer must never contain (image placeholders, padding): only the end token."""
        special = set(self.tokenizer.all_special_ids)
        for name in ("image_token_id", "boi_token_id", "eoi_token_id"):
            if isinstance(getattr(self.model.config, name, None), int):
                special.add(getattr(self.model.config, name))
        return sorted(special - self.eos_ids)

    # --- acting ---------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, observations: Sequence[Observation]) -> list[Decision]:
        prompts = [build_prompt(obs, self.prompt_variant) for obs in observations]
        started = time.time()
        legal = [obs.decodable_actions() for obs in observations] if self.sampling.get("constrain_actions") else None
        rows = self.generate([obs.frame for obs in observations], prompts, legal, [obs.sample_key for obs in observations])
        seconds = (time.time() - started) / max(1, len(observations))
        decisions = []
        for obs, prompt, (ids, logprobs, value) in zip(observations, prompts, rows):
            text, offsets = generated_offsets(self.tokenizer, ids)
            parse = parse_action(text, obs.legal_actions)
            cot_mask, action_mask = masks_from_offsets(offsets, parse.span)
            decisions.append(
                Decision(
                    prompt=prompt,
                    text=text,
                    parse=parse,
                    token_ids=ids,
                    logprobs=logprobs,
                    cot_mask=cot_mask,
                    action_mask=action_mask,
                    value=value,
                    gen_seconds=seconds,
                )
            )
        return decisions

    @torch.no_grad()
    def generate(
        self,
        frames: Sequence[np.ndarray],
        prompts: Sequence[str],
        legal_actions: Sequence[Sequence[str]] | None = None,
        sample_keys: Sequence[Sequence[int]] | None = None,
    ) -> list[tuple[list[int], list[float], float]]:
        """Per row: generated ids (up to and including the end token), their log-probs, the value.

        With `legal_actions`, each row's action value is decoded only among its legal actions.
        Sampling draws each row's noise from its `sample_keys` entry (see keyed_sampling; empty or
        absent: torch's global generator).
        """
        inputs = self.placed(prompt_inputs(self.processor, frames, prompts))
        prompt_len = inputs["input_ids"].shape[1]
        greedy = self.sampling["greedy"] or self.sampling["temperature"] == 0
        # Sampling runs as greedy decoding of Gumbel-perturbed logits, so each row owns its noise.
        options = dict(max_new_tokens=self.sampling["max_new_tokens"], do_sample=False, pad_token_id=self.pad_id,
                       temperature=None, top_p=None, top_k=None)
        streamer = None
        if self.stream_callback is not None:
            streamer = BatchTextStreamer(self.tokenizer, len(prompts), self.stream_callback, self.eos_ids)
        processors, constraint = LogitsProcessorList(), None
        if legal_actions is not None:
            constraint = LegalActionProcessor(self.token_strings, legal_actions, prompt_len, self.eos_ids,
                                              self.thought_limits(legal_actions))
            processors.append(constraint)
        if not greedy:
            keys = sample_keys if sample_keys is not None else [()] * len(prompts)
            processors.append(KeyedGumbelSampler(keys, self._generator_seed, prompt_len, self.sampling["temperature"], self.sampling["top_p"]))
        if processors:
            options["logits_processor"] = processors
        out = self.model.generate(
            **inputs,
            **options,
            eos_token_id=sorted(self.eos_ids),
            suppress_tokens=self.suppressed_ids,
            output_logits=True,
            output_hidden_states=True,
            return_dict_in_generate=True,
            streamer=streamer,
        )
        generated = out.sequences[:, prompt_len:]
        logits = torch.stack(out.logits, dim=1).float()  # (batch, steps, vocab), unprocessed
        responses = []
        for ids in generated.tolist():
            responses.append(ids[: next((k + 1 for k, t in enumerate(ids) if t in self.eos_ids), len(ids))])
        log_probs = torch.log_softmax(logits, -1) if constraint is None else constrained_logprobs(logits, constraint.masked_steps)
        token_logprobs = log_probs.gather(-1, generated.unsqueeze(-1)).squeeze(-1)
        last_hidden = out.hidden_states[0][-1][:, -1, :]  # last layer, last prompt token (left padding)
        values = self.value_head(last_hidden)
        return [(ids, token_logprobs[row, : len(ids)].tolist(), float(values[row])) for row, ids in enumerate(responses)]

    # --- training -------------------------------------------------------------------------------
    @torch.no_grad()
    def prompt_features(self, frames: Sequence[np.ndarray], prompts: Sequence[str]) -> torch.Tensor:
        """What the value head reads: the last layer's hidden state at the last prompt token."""
        inputs = self.placed(prompt_inputs(self.processor, frames, prompts))
        out = self.model(**inputs, output_hidden_states=True, logits_to_keep=1)
        return out.hidden_states[-1][:, -1, :]  # left padding: the last position is the prompt's end

    def evaluate(
        self,
        frames: Sequence[np.ndarray],
        prompts: Sequence[str],
        responses: Sequence[Sequence[int]],
        legal_actions: Sequence[Sequence[str] | None] | None = None,
        max_new_tokens: Sequence[int | None] | None = None,
    ) -> Evaluation:
        """Log-probs, entropies and values of given responses, with gradients, in one forward pass.

        A row with legal actions is scored as constrained decoding produced it (see action_constraint),
        with the thought limits of its `max_new_tokens` (per row; default this policy's), as when it acted.
        """
        inputs = prompt_inputs(self.processor, frames, prompts)
        prompt_len = inputs["input_ids"].shape[1]
        full, response_mask = with_responses(inputs, responses, self.pad_id)
        if computes_own_positions(self.model):
            del full["position_ids"]  # multimodal RoPE (Qwen2-VL): 1-D positions would move the image's tokens
        full, response_mask = self.placed(full), response_mask.to(self.device)
        width = response_mask.shape[1]
        out = self.model(**full, output_hidden_states=True, logits_to_keep=width + 1)
        logits = out.logits[:, :-1, :].float()  # position p predicts token p + 1
        if legal_actions is None or all(actions is None for actions in legal_actions):
            log_probs = torch.log_softmax(logits, -1)
        else:  # the steps the processor masked when these answers were generated
            limits = self.thought_limits(legal_actions, max_new_tokens)
            eos = sorted(self.eos_ids)
            masked = [{} if a is None else allowed_by_step(self.token_strings, ids, a, limit, eos)
                      for ids, a, limit in zip(responses, legal_actions, limits)]
            log_probs = constrained_logprobs(logits, masked)
        targets = full["input_ids"][:, prompt_len:]
        token_logprobs = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        # Masked tokens have log-prob -inf and probability 0: they add nothing (0, not nan) to the entropy.
        entropy = -(log_probs.exp() * torch.where(torch.isfinite(log_probs), log_probs, 0.0)).sum(-1)
        values = self.value_head(out.hidden_states[-1][:, prompt_len - 1, :])
        zero = torch.zeros_like(token_logprobs)
        return Evaluation(
            token_logprobs=torch.where(response_mask, token_logprobs, zero),
            entropy=torch.where(response_mask, entropy, zero),
            response_mask=response_mask,
            values=values,
        )

    def train(self, mode: bool = True) -> "VLMPolicy":
        self.model.train(mode)
        self.value_head.train(mode)
        return self

    def parameters(self):
        yield from self.model.parameters()
        yield from self.value_head.parameters()


def computes_own_positions(model) -> bool:
    """Models with multimodal RoPE (Qwen2-VL family) derive 3-D positions from the attention mask and image grid themselves."""
    config = model.config
    text = getattr(config, "text_config", None) or config
    rope = getattr(text, "rope_parameters", None) or getattr(text, "rope_scaling", None) or {}
    return "mrope_section" in rope


def hidden_size(model) -> int:
    """The width of the language model's hidden state (what the value head reads)."""
    config = model.config
    text = getattr(config, "text_config", None) or config
    return int(text.hidden_size)
