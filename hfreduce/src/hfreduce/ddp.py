"""HFReduce under PyTorch DistributedDataParallel: a communication hook that sums each gradient bucket with
HFReduce instead of the process group's allreduce, and averages it as DDP does.

    import torch.distributed as dist, hfreduce.ddp
    dist.init_process_group("gloo")              # DDP still uses the group to broadcast the initial weights
    model = DistributedDataParallel(model)
    hfreduce.ddp.register(model)                  # Communicator.from_env(): RANK, WORLD_SIZE, MASTER_ADDR

Buckets are reduced on one background thread, in the order DDP hands them over (the same on every rank, which
HFReduce needs), while backward goes on computing the next ones; DDP waits for all of them before the optimizer
step. Gradients on a GPU go through host memory (HFReduce's reduce runs on the CPU): a build with the GPU path
copies them itself, into its pinned shared memory; otherwise they are copied to the host here.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.distributed as dist

from hfreduce import Communicator, HFReduceError, build_info

SUMMED = {torch.float32, torch.float16, torch.bfloat16}


class Hook:
    """DDP's communication hook (hfreduce_hook), with the communicator and the thread it reduces on."""

    def __init__(self, comm: "Communicator", average: bool = True) -> None:
        self.comm = comm
        self.average = average
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfreduce")
        self.cuda = build_info()["cuda"]

    def _reduce(self, grads: torch.Tensor) -> torch.Tensor:
        if grads.dtype not in SUMMED:
            raise HFReduceError(f"gradients of type {grads.dtype}: HFReduce sums float32, float16 and bfloat16")
        # a CUDA build copies GPU buffers itself (copy engines into its pinned shared memory)
        direct = grads.device.type == "cpu" or (grads.device.type == "cuda" and self.cuda)
        on_host = grads if direct else grads.to("cpu")
        self.comm.allreduce(on_host, synchronize=False)  # the hook waited for the bucket's event
        if on_host is not grads:
            grads.copy_(on_host, non_blocking=False)
        if self.average:
            grads.div_(self.comm.world)
        if grads.is_cuda:  # done before DDP reads the bucket, whichever stream it reads on
            torch.cuda.current_stream(grads.device).synchronize()
        return grads

    # DDP checks these two annotations against the real classes: they must not be strings (no `from __future__
    # import annotations` in this module)
    def hfreduce_hook(self, state: Any, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        """What DDP calls per bucket (a bound method: DDP wants a function's name and signature)."""
        grads = bucket.buffer()
        fut: torch.futures.Future[torch.Tensor] = torch.futures.Future()
        # DDP may still be copying gradients into the bucket on this thread's stream: HFReduce's copies (on their
        # own stream, on another thread) start once that work is done, and backward's later kernels go on meanwhile
        ready = None
        if grads.is_cuda:
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(grads.device))

        def work() -> None:
            try:
                if ready is not None:
                    ready.synchronize()
                fut.set_result(self._reduce(grads))
            except BaseException as e:  # DDP raises it from backward() on this rank
                fut.set_exception(e)

        self._thread.submit(work)
        return fut

    def close(self) -> None:
        self._thread.shutdown(wait=True)


def register(
    model: torch.nn.parallel.DistributedDataParallel, comm: Communicator | None = None, average: bool = True
) -> Hook:
    """Makes `model` reduce its gradients with HFReduce; returns the hook (its .comm is the communicator)."""
    hook = Hook(comm or Communicator.from_env(), average)
    model.register_comm_hook(state=None, hook=hook.hfreduce_hook)
    return hook
