"""`vlm-agent relabel`: a student's logged episodes answered again by a scripted teacher (new DAgger labels, offline)."""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from vlm_agent.cli.options import Options, options_command
from vlm_agent.envs.alfworld.memory import MEMORY_STYLES

RELABEL_TEACHERS = ("expert", "expert-ranked", "expert-shuffled")


@dataclass
class RelabelOptions:
    logs: list[Path] = field(metadata={"argument": True, "help": "Log folders (or episode files) of a student's episodes, "
                                                                 "e.g. from `play --teacher` (ALFWorld)."})
    out: Path = field(metadata={"help": "New or empty folder for the relabelled copies of the runs (for `sft`)."})
    teacher: str = field(default="expert-ranked", metadata={"help": "The scripted teacher that answers each logged state.",
                                                            "choices": RELABEL_TEACHERS})
    memory: Optional[str] = field(default=None, metadata={
        "help": "ALFWorld: the memory block style the new prompts show and the teacher reads (default: each log's own).",
        "choices": MEMORY_STYLES})


@options_command("relabel", RelabelOptions)
def relabel(options: Options) -> None:
    """Answer every state of a student's logged episodes again with a teacher; sft trains on the new labels."""
    from vlm_agent.cli.main import console, err_console, user_errors
    from vlm_agent.runtime.agent_factory import make_agent
    from vlm_agent.training.relabel import relabel_logs

    with user_errors():
        if options.out.exists() and (not options.out.is_dir() or any(options.out.iterdir())):
            raise FileExistsError(errno.EEXIST, "is not an empty folder; relabelled runs go into a new one", str(options.out))
        teacher = make_agent(options.teacher)
        counts = relabel_logs(options.logs, teacher, options.out,
                              on_skip=lambda reason: err_console.print(f"[yellow]skipped[/] {reason}"),
                              memory_style=options.memory)
        console.print(f"relabelled {counts.episodes} episodes, {counts.steps} steps, with {teacher.kind} "
                      f"(its action differs from the old label's on {counts.changed}; prompts of an earlier memory "
                      f"format rewritten: {counts.reprompted}) into {options.out}; "
                      f"set aside: {dict(counts.skipped) or 'none'}")
