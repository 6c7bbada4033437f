"""DDP smoke job of ffinfra's training suite. Runs on the nodes (copied there by `ffinfra test`), one rank per
Slurm task: a small regression model trained with DistributedDataParallel on per-rank synthetic data.

Prints one line per rank, `FFINFRA-DDP {json}`, with the loss before and after training (averaged over ranks),
a sha256 of the final weights, whether all ranks hold the same weights, and throughput. Backend: NCCL when
FFINFRA_DDP_BACKEND=nccl (GPU nodes), HFReduce's DDP hook over a gloo group when FFINFRA_DDP_BACKEND=hfreduce (the
gradients go through HFReduce; the group only broadcasts the first weights and gathers the report), else gloo on
CPU. FFINFRA_DDP_DUMP=path makes rank 0 write the final weights there (a JSON list), to compare backends.

On the way each rank prints `FFINFRA-DDP-STAGE {json}` lines (ready: Python and torch loaded; joined: in the
process group, weights broadcast), after the launcher's `started`: when the job fails, the rank that stopped
earliest is the one the others were waiting for.

Shutdown skips destroy_process_group(): torch 2.13's gloo teardown aborts now and then after training succeeded
(pytorch/pytorch#190489; lab-probe.md recipe 6). Every rank checks in on the store, rank 0 (the store's host)
leaves last, and all leave with os._exit.
"""

import hashlib
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

STEPS = int(os.environ.get("FFINFRA_DDP_STEPS", "60"))
BATCH = 64
NODE = os.environ.get("SLURMD_NODENAME") or socket.gethostname()  # the name Slurm's own messages use


def stage(rank: int, name: str) -> None:
    print("FFINFRA-DDP-STAGE " + json.dumps({"node": NODE, "rank": rank, "stage": name}, sort_keys=True), flush=True)


def main() -> int:
    rank = int(os.environ.get("SLURM_PROCID", os.environ.get("RANK", "0")))
    world = int(os.environ.get("SLURM_NTASKS", os.environ.get("WORLD_SIZE", "1")))
    local = int(os.environ.get("SLURM_LOCALID", os.environ.get("LOCAL_RANK", "0")))
    backend = os.environ.get("FFINFRA_DDP_BACKEND", "gloo")
    torch.set_num_threads(1)
    stage(rank, "ready")
    dist.init_process_group(
        "gloo" if backend == "hfreduce" else backend, init_method="env://", rank=rank, world_size=world
    )
    device = torch.device(f"cuda:{local}") if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)

    torch.manual_seed(0)  # the same start everywhere (DDP broadcasts rank 0's weights anyway)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local] if backend == "nccl" else None)
    if backend == "hfreduce":
        import hfreduce.ddp

        hfreduce.ddp.register(ddp)
    stage(rank, "joined")  # DDP's constructor broadcast rank 0's weights: the group works
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1000 + rank)  # each rank its own data
    w_true = torch.linspace(-1, 1, 32).unsqueeze(1)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(BATCH, 32, generator=gen)
        return x.to(device), (x @ w_true + 0.01 * torch.randn(BATCH, 1, generator=gen)).to(device)

    def mean_loss(loss: torch.Tensor) -> float:
        t = loss.detach().clone()
        dist.all_reduce(t)
        return t.item() / world

    losses = []
    t0 = time.monotonic()
    for _ in range(STEPS):
        x, y = batch()
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        loss.backward()
        opt.step()
        losses.append(mean_loss(loss))
    seconds = time.monotonic() - t0

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    hi, lo = flat.clone(), flat.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    in_sync = bool(torch.equal(hi, lo))
    dump = os.environ.get("FFINFRA_DDP_DUMP")
    if dump and rank == 0:
        with open(dump, "w") as f:
            json.dump(flat.cpu().tolist(), f)
    report = {
        "rank": rank,
        "world": world,
        "host": socket.gethostname(),
        "node": NODE,
        "backend": backend,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "steps": STEPS,
        "params_sha256": hashlib.sha256(repr(flat.cpu().tolist()).encode()).hexdigest(),
        "in_sync": in_sync,
        "samples_per_s": world * BATCH * STEPS / seconds,
        "seconds": seconds,
    }
    print("FFINFRA-DDP " + json.dumps(report, sort_keys=True), flush=True)

    store = dist.distributed_c10d._get_default_store()
    store.set(f"ffinfra-done{rank}", "1")
    if rank == 0:
        store.wait([f"ffinfra-done{r}" for r in range(world)])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if in_sync else 1)


if __name__ == "__main__":
    sys.exit(main())
