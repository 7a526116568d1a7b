"""Data-parallel training under torchrun: which rank this is, the process group, and the collectives a trainer needs.

torchrun (or `accelerate launch`) starts one process per device and sets RANK, WORLD_SIZE and
LOCAL_RANK; without them there is one rank and nothing here does anything, so the single-process
path is exactly what it was. Every rank reads the same logs and draws the same minibatches (same
seeds); each scores its share of a minibatch, and the gradients are averaged across ranks after
each backward pass (an explicit all-reduce rather than DistributedDataParallel: the policy's
forward pass is `evaluate`, which calls the model and the value head separately, and the loss is
weighted by each rank's share so that uneven last minibatches still give the one-process update).

A collective that waits longer than the timeout fails the run with one line naming the ranks that
never arrived (each rank notes in the rendezvous store where it is before it waits).
"""
from __future__ import annotations

import contextlib
import os
import pickle
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import torch

TIMEOUT_S = 600.0


class RankFailure(RuntimeError):
    """A collective timed out or a peer died: the message names the ranks that did not arrive."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank 0 of 1 when not started by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def share(self, items: Sequence) -> list:
        """This rank's part of a minibatch (every world_size-th item from its rank): the parts add up to the whole."""
        return list(items[self.rank :: self.world_size])


def ranks_from_env() -> Ranks:
    env = os.environ
    return Ranks(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


_state: dict[str, Any] = {"timeout": TIMEOUT_S, "seq": 0}


def start(device: torch.device, timeout_s: float = TIMEOUT_S) -> Ranks:
    """Join the process group of a torchrun launch (gloo on the CPU, nccl on CUDA), once; Ranks() when not launched."""
    ranks = ranks_from_env()
    if not ranks.distributed:
        return ranks
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        options = {}
        if device.type == "cuda":
            torch.cuda.set_device(device)  # object collectives (the version's name) use the current device
            options["device_id"] = device
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s), **options)
        _state.update(timeout=timeout_s, seq=0)
    return ranks


def stop() -> None:
    """Leave the process group, once gloo's worker threads have let go of every tensor this rank handed them."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        _let_go()
        dist.destroy_process_group()


# A gloo worker thread drops its reference to a collective's tensors only after the caller's wait has returned, and
# that drop takes the GIL. Were the interpreter finalizing by then (the collective was a run's last), the thread would
# be unwound and the rank abort (`terminate called without an active exception`) after a run that succeeded. So each
# collective here waits, the GIL released, until the worker has let go of its tensors; any still held after the
# timeout are kept here, and stop() waits for them again.
_held: list[torch.Tensor] = []
LET_GO_TIMEOUT_S = 10.0


def _let_go(*tensors: torch.Tensor, timeout_s: float = LET_GO_TIMEOUT_S) -> None:
    if not _gloo():  # NCCL's watchdog keeps finished works a while: waiting would slow every collective on a GPU
        return
    waiting = [*_held, *tensors]
    deadline = time.monotonic() + timeout_s
    while any(t._use_count() > 1 for t in waiting) and time.monotonic() < deadline:
        time.sleep(0.0005)
    _held[:] = [t for t in waiting if t._use_count() > 1]


@contextlib.contextmanager
def collective(ranks: Ranks, what: str):
    """Run the collective inside under a name; a timeout or a dead peer becomes RankFailure naming the missing ranks."""
    if not ranks.distributed:
        yield
        return
    import torch.distributed as dist

    _state["seq"] += 1
    store = dist.distributed_c10d._get_default_store()
    store.set(f"vlm_agent/at/{ranks.rank}", f"{_state['seq']}|{what}")
    try:
        yield
    except (RuntimeError, dist.DistError) as error:
        raise RankFailure(f"rank {ranks.rank}: {what} failed after waiting up to {_state['timeout']:g}s: "
                          f"{_missing(store, ranks, _state['seq'])} ({_first_line(error)})") from None


def _missing(store, ranks: Ranks, seq: int) -> str:
    behind = []
    try:
        for rank in range(ranks.world_size):
            key = f"vlm_agent/at/{rank}"
            if not store.check([key]):
                behind.append(f"rank {rank} never reached a collective")
                continue
            their_seq, their_what = store.get(key).decode().split("|", 1)
            if int(their_seq) < seq:
                behind.append(f"rank {rank} is hung or died after {their_what!r}")
    except Exception:  # the store itself is gone (rank 0 died): say so rather than guess
        return "the rendezvous store is gone (rank 0 died?)"
    return "; ".join(behind) or "every rank reached it (a peer died inside it)"


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def barrier(ranks: Ranks, what: str) -> None:
    if ranks.distributed:
        import torch.distributed as dist

        with collective(ranks, what):
            dist.monitored_barrier(timeout=timedelta(seconds=_state["timeout"])) if _gloo() else dist.barrier()


def _gloo() -> bool:
    import torch.distributed as dist

    return dist.get_backend() == "gloo"


def broadcast(ranks: Ranks, value: Any, what: str) -> Any:
    """Rank 0's `value` on every rank (a picklable object)."""
    if not ranks.distributed:
        return value
    import torch.distributed as dist

    # broadcast_object_list, by hand: its own tensors could not be waited for (see _let_go).
    device = _comm_device()
    data = pickle.dumps(value) if ranks.is_main else b""
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    with collective(ranks, what):
        dist.broadcast(size, src=0)
        payload = torch.frombuffer(bytearray(data), dtype=torch.uint8) if ranks.is_main else torch.empty(int(size[0]), dtype=torch.uint8)
        payload = payload.to(device)
        dist.broadcast(payload, src=0)
    _let_go(size, payload)
    return value if ranks.is_main else pickle.loads(payload.cpu().numpy().tobytes())


def _comm_device() -> torch.device:
    """Where a collective's tensor must live: NCCL moves only GPU memory."""
    return torch.device("cpu") if _gloo() else torch.device("cuda", torch.cuda.current_device())


def average_gradients(ranks: Ranks, params: Sequence[torch.Tensor], what: str = "gradient all-reduce") -> None:
    """Average the gradients of replicated `params` over the ranks, in one flat buffer (a missing gradient counts as 0)."""
    if not ranks.distributed:
        return
    import torch.distributed as dist

    params = [p for p in params if not _is_sharded(p)]  # FSDP reduces its own
    if not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in params])
    with collective(ranks, what):
        dist.all_reduce(flat)
    _let_go(flat)
    flat /= ranks.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).to(p.dtype)
        offset += n


def broadcast_parameters(ranks: Ranks, params: Sequence[torch.Tensor], what: str = "synchronising the weights") -> None:
    """Rank 0's values of replicated `params` on every rank, as DDP does at construction.

    The ranks load the same files and seed alike, so this normally changes nothing; it guards
    against whatever a GPU's non-deterministic kernels made differ (LoRA init, value warm-up).
    """
    if not ranks.distributed:
        return
    import torch.distributed as dist

    params = [p for p in params if not _is_sharded(p)]
    if not params:
        return
    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).float() for p in params])
        with collective(ranks, what):
            dist.broadcast(flat, src=0)
        _let_go(flat)
        offset = 0
        for p in params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()


def _is_sharded(tensor: torch.Tensor) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(tensor, DTensor)


def sum_over_ranks(ranks: Ranks, values: Sequence[float], what: str) -> list[float]:
    """Each value summed over the ranks (weighted metrics: each rank passes value x its share)."""
    if not ranks.distributed:
        return list(values)
    import torch.distributed as dist

    tensor = torch.tensor(list(values), dtype=torch.float64, device=_comm_device())
    with collective(ranks, what):
        dist.all_reduce(tensor)
    _let_go(tensor)
    return tensor.tolist()


def max_over_ranks(ranks: Ranks, value: float, what: str) -> float:
    if not ranks.distributed:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=_comm_device())
    with collective(ranks, what):
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    _let_go(tensor)
    return float(tensor[0])


def any_rank(ranks: Ranks, flag: bool, what: str = "stop check") -> bool:
    """True on every rank when it is true on one (Ctrl-C reaches the ranks at different moments)."""
    return bool(max_over_ranks(ranks, float(flag), what)) if ranks.distributed else flag


# --- FSDP (--fsdp): parameters, gradients and optimizer state sharded over the ranks -------------


def shard_model(ranks: Ranks, model: torch.nn.Module) -> int:
    """FSDP2 `fully_shard` on each of the model's repeated blocks (its `_no_split_modules`), then on the whole; returns blocks.

    The value head stays replicated (a few MB) and is averaged like DDP's gradients.
    """
    if not ranks.distributed:
        raise ValueError("--fsdp shards over the ranks of a torchrun launch; start it with torchrun --nproc-per-node N")
    from torch.distributed.fsdp import fully_shard

    blocks = set(getattr(model, "_no_split_modules", None) or ())
    inner = [m for m in model.modules() if type(m).__name__ in blocks]
    for module in inner:
        fully_shard(module)
    fully_shard(model)
    return len(inner)


def is_sharded(model: torch.nn.Module) -> bool:
    return any(_is_sharded(p) for p in model.parameters())


def clip_gradients(ranks: Ranks, params: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """torch's clip_grad_norm_, also over a mix of sharded (FSDP) and replicated gradients: the norm of the whole gradient."""
    grads = [p.grad for p in params if p.grad is not None]
    sharded = [g for g in grads if _is_sharded(g)]
    if not sharded:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    import torch.distributed as dist

    local = torch.stack([g.to_local().float().pow(2).sum() for g in sharded]).sum()
    with collective(ranks, "gradient norm"):
        dist.all_reduce(local)
    _let_go(local)
    replicated = [g for g in grads if not _is_sharded(g)]
    total = (local + sum((g.float().pow(2).sum() for g in replicated), torch.zeros((), device=local.device))).sqrt()
    coef = float(torch.clamp(max_norm / (total + 1e-6), max=1.0))
    for g in grads:
        g.mul_(coef)
    return total


def full_state_dict(ranks: Ranks, model: torch.nn.Module) -> dict | None:
    """The unsharded weights of an FSDP model, gathered on the CPU (every rank must call it); None for a plain model."""
    if not is_sharded(model):
        return None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    with collective(ranks, "gathering the weights"):
        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
