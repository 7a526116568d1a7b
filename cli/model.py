"""`vlm-agent model ...` (build and inspect models, run a recipe) and `vlm-agent sft` (supervised fine-tuning)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import typer

from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.cli.options import Options, options_command
from vlm_agent.cli.recipe import model_recipe
from vlm_agent.cli.vision import SupervisedOptions
from vlm_agent.training.sft_config import SFTConfig

model_app = typer.Typer(no_args_is_help=True, add_completion=False)
model_app.command("recipe")(model_recipe)


@model_app.command("init")
def model_init(
    out: Path = typer.Option(..., help="Folder to write the new model into (must not hold a model yet)."),
    seed: int = typer.Option(0, help="Seed of the weights and of the tokenizer's corpus: same seed, same model."),
    corpus_episodes: int = typer.Option(30, min=1, help="Expert episodes per environment the tokenizer is trained on."),
) -> None:
    """Build the default agent model: a small Idefics3-architecture VLM with a tokenizer trained here."""
    from vlm_agent.cli.main import console, err_console, user_errors

    with user_errors():
        if (out / "config.json").exists():
            raise ValueError(f"{out}: already holds a model; choose another --out")
        from vlm_agent.runtime.corpus import expert_texts
        from vlm_agent.agent.model_init import init_model

        init_model(out, expert_texts(episodes=corpus_episodes, seed=seed), seed=seed)
        _print_info(console, out)


@model_app.command("info")
def model_info(path: Path = typer.Argument(..., help="A model folder or a checkpoint root.")) -> None:
    """Show a model's architecture, size and version."""
    from vlm_agent.cli.main import console, user_errors

    with user_errors():
        _print_info(console, path)


@model_app.command("export")
def model_export(
    path: Path = typer.Argument(..., help="A model folder or a checkpoint root (its LATEST version)."),
    out: Path = typer.Option(..., help="Folder to write: the model, processor and value head, no training state."),
    version: str = typer.Option(..., help="Version name the exported model reports (logged with every step)."),
    constrain_actions: Optional[bool] = typer.Option(None, "--constrain-actions/--no-constrain-actions", help=(
        "Record how the model is decoded by default: its action value only among the legal actions, or freely "
        "(play, eval and train follow it unless told otherwise). Default: what the source version records, else nothing.")),
    avoid_repeats: Optional[bool] = typer.Option(None, "--avoid-repeats/--no-avoid-repeats", help=(
        "Record whether a constrained decoding avoids, by default, an action already sent from the same state of an "
        "episode (see play --avoid-repeats). Default: what the source version records, else nothing.")),
) -> None:
    """Copy a trained model for shipping or sharing: plain transformers folder plus the value head."""
    import json
    import shutil

    from vlm_agent.core.atomic import write_folder_atomic
    from vlm_agent.cli.main import console, user_errors
    from vlm_agent.runtime.checkpoints import DECODING, META, recorded_decoding, resolve_model_dir

    with user_errors():
        source, source_version = resolve_model_dir(path)
        if not (source / "config.json").exists():
            raise ValueError(f"{source}: not a model folder (no config.json)")
        decoding = recorded_decoding(source)
        if constrain_actions is not None:
            decoding["constrain_actions"] = constrain_actions
        if avoid_repeats is not None:
            decoding["avoid_repeats"] = avoid_repeats
        if decoding.get("avoid_repeats") and not decoding.get("constrain_actions"):
            raise ValueError("--avoid-repeats needs constrained actions: add --constrain-actions")

        def fill(temp: Path) -> None:
            for file in sorted(source.iterdir()):
                if file.is_file() and not file.name.startswith("trainer_state") and file.name != META:
                    shutil.copy2(file, temp / file.name)
            meta = {"version": version, "exported_from": str(source), "source_version": source_version,
                    **({DECODING: decoding} if decoding else {})}
            (temp / META).write_text(json.dumps(meta, indent=2) + "\n")

        write_folder_atomic(out, fill)
        _print_info(console, out)


@model_app.command("extend-vocab")
def model_extend_vocab(
    logs: List[Path] = typer.Argument(..., help="Log folders whose prompts and answers hold the new words (e.g. ALFWorld expert runs)."),
    model: Path = typer.Option(..., help="Model folder or checkpoint root (its LATEST version) to extend."),
    out: Path = typer.Option(..., help="Folder to write the extended model into (must not hold a model yet)."),
    version: str = typer.Option(..., help="Version name the new model reports."),
    max_new: int = typer.Option(512, min=1, help="Most words to add."),
    min_count: int = typer.Option(5, min=1, help="Words seen fewer times are left to the old pieces."),
    names: bool = typer.Option(False, "--names", help="Instead of frequent words, make every numbered name of the "
                               "logs' observations one token (' drawer 11'), each kind numbered past its largest seen."),
) -> None:
    """Add a new environment's frequent words (or its numbered names) as single tokens; the card games' text tokenizes as before."""
    import json
    from vlm_agent.core.atomic import write_folder_atomic
    from vlm_agent.cli.main import console, err_console, user_errors

    with user_errors():
        if (out / "config.json").exists():
            raise ValueError(f"{out}: already holds a model; choose another --out")
        from vlm_agent.runtime.corpus import expert_texts
        from vlm_agent.agent.policy import VLMPolicy
        from vlm_agent.runtime.checkpoints import load_policy
        from vlm_agent.agent.vocab_extension import add_words, new_words, numbered_names
        from vlm_agent.runtime.log_reader import iter_episodes
        from vlm_agent.runtime.checkpoints import META, decoding_meta, resolve_model_dir

        source, source_version = resolve_model_dir(model)
        policy = load_policy(source)
        skip = lambda reason: err_console.print(f"[yellow]skipped[/] {reason}")  # noqa: E731  (a corrupt file costs its words, not the run)
        texts, observations = [], []
        for episode in iter_episodes(logs, on_skip=skip):
            texts += [text for column in ("prompt", "response") for text in episode.table.column(column).to_pylist() if text]
            observations += [text for text in episode.table.column("observation_text").to_pylist() if text]
        if not texts:
            raise ValueError(f"no logged prompts under {', '.join(map(str, logs))}")
        if names:
            words = numbered_names(observations, expert_texts())
        else:
            words = new_words(policy.tokenizer, texts, expert_texts(), max_new, min_count)
        before = sum(len(policy.tokenizer(t)["input_ids"]) for t in texts[:200])
        added = add_words(policy, words)
        after = sum(len(policy.tokenizer(t)["input_ids"]) for t in texts[:200])
        def fill(temp: Path) -> None:
            policy.save_pretrained(temp)
            meta = {"version": version, "extended_from": str(source), "source_version": source_version, "added_words": words,
                    **decoding_meta(source)}
            (temp / META).write_text(json.dumps(meta, indent=2) + "\n")

        write_folder_atomic(out, fill)
        console.print(f"added {added} words; the logged text is {after / before:.0%} of its old token count")
        _print_info(console, out)


@model_app.command("grow")
def model_grow(
    model: Path = typer.Argument(..., help="A model folder or a checkpoint root (its LATEST version) to grow."),
    out: Path = typer.Option(..., help="Folder to write the grown model into (must not hold a model yet)."),
    layers: int = typer.Option(..., help="Layers the text decoder will have: more than it has now (e.g. 8 from 4)."),
    version: str = typer.Option("", help="Version name the grown model reports (default: the source's version, -grown<LAYERS>)."),
) -> None:
    """Deepen the text decoder by copies of its layers that add nothing yet (LLaMA Pro): same answers, more to train."""
    import json

    from vlm_agent.core.atomic import write_folder_atomic
    from vlm_agent.cli.main import console, user_errors
    from vlm_agent.runtime.checkpoints import META, decoding_meta, resolve_model_dir

    with user_errors():
        if (out / "config.json").exists():
            raise ValueError(f"{out}: already holds a model; choose another --out")
        source, source_version = resolve_model_dir(model)
        if not (source / "config.json").exists():
            raise ValueError(f"{source}: not a model folder (no config.json)")
        from vlm_agent.agent.model_growth import grow_model_folder

        before = []

        def fill(temp: Path) -> None:
            before.append(grow_model_folder(source, temp, layers))
            meta = {"version": version or f"{source_version}-grown{layers}", "grown_from": str(source.resolve()),
                    "source_version": source_version, "layers_before": before[0], "layers_after": layers, **decoding_meta(source)}
            (temp / META).write_text(json.dumps(meta, indent=2) + "\n")

        write_folder_atomic(out, fill)
        console.print(f"text decoder grown from {before[0]} to {layers} layers; the new ones add nothing until trained")
        _print_info(console, out)


def _print_info(console, path: Path) -> None:
    from vlm_agent.agent.policy import VLMPolicy
    from vlm_agent.runtime.checkpoints import load_policy

    policy = load_policy(path)
    params = sum(p.numel() for p in policy.model.parameters())
    console.print(
        f"{path}: {type(policy.model).__name__}, {params / 1e6:.2f}M parameters, "
        f"vocabulary {len(policy.tokenizer)}, version {policy.policy_version or '-'}"
        + (", decoded with its actions constrained by default" if policy.sampling["constrain_actions"] else "")
        + (", avoiding repeated actions in repeated states" if policy.sampling.get("avoid_repeats") else "")
    )


@dataclass
class SFTOptions(SupervisedOptions):
    captions: bool = field(default=False, metadata={
        "help": "Also learn to describe each frame by its text state (teaches a new vision tower to read)."})
    caption_logs: list[Path] = field(default_factory=list, metadata={
        "help": "Log folders trained on like LOGS whose frames also give caption examples, where --captions gives them for "
                "every log (repeatable; e.g. the card games' paper frames beside ALFWorld's logs)."})
    lookup_drills: float = field(default=0.0, metadata={
        "help": "Share of the steps whose prompt has a memory line of named entries (ALFWorld's unsearched:) that also "
                "give a drill: those entries asked for by name in a shuffled order (training/lookup_drills.py).",
        "min": 0.0, "max": 1.0})
    short_lookup_drills: float = field(default=0.0, metadata={
        "help": "Share of the same steps (drawn apart from --lookup-drills') that give a short drill: the question asked "
                "on the memory block alone (what grew a look-up head in exp15, docs/learning/alfworld-teacher-sft.md).",
        "min": 0.0, "max": 1.0})


@options_command("sft", SFTOptions, SFTConfig, DeviceConfig)
def sft(options: Options) -> None:
    """Supervised fine-tuning on logged expert answers (loss on answer tokens only)."""
    from vlm_agent.cli.main import console, err_console, quiet_other_ranks, user_errors
    from vlm_agent.cli.progress import published_line, train_with_progress
    from vlm_agent.core.write_errors import check_writable
    from vlm_agent.training.sft import BatchSchedule, run_sft
    from vlm_agent.training.sft_config import parse_env_shares
    from vlm_agent.training.sft_data import load_sft_data

    quiet_other_ranks()
    with user_errors():
        check_writable(options.out)  # before minutes of log reading
        config = options.build(SFTConfig)
        shares = parse_env_shares(config.env_share)
        data = load_sft_data(options.logs, options.held_out, captions=options.captions, caption_paths=options.caption_logs,
                             on_skip=lambda reason: err_console.print(f"[yellow]skipped[/] {reason}"))
        if options.lookup_drills or options.short_lookup_drills:
            from vlm_agent.training.lookup_drills import add_lookup_drills
            added = add_lookup_drills(data, options.lookup_drills, options.short_lookup_drills)
            console.print(f"{added} lookup drills added")
        console.print(f"{len(data.train)} training and {len(data.held_out)} held-out answers; set aside: {dict(data.skipped) or 'none'}")
        if shares:
            BatchSchedule(data.train, config.batch_size, config.seed, shares)  # a share of no examples: one line, before the model loads
            console.print("steps drawn: " + ", ".join(f"{env_id} {share:.0%}" for env_id, share in shares.items())
                          + (", the rest from the other examples" if sum(shares.values()) < 1 else ""))
        metrics = train_with_progress(
            console, "sft", config.steps,
            lambda show: run_sft(data, options.model, options.out, config, resume=options.resume, on_progress=show,
                                 run_options=options.record(), device=options.build(DeviceConfig)),
            status=lambda m: f"loss {m['loss']:.3f}",
            held_out=lambda m: f"loss {m['loss']:.3f}  held-out {m['held_out_loss']:.3f}",
        )
        console.print(published_line(options.out, metrics))
