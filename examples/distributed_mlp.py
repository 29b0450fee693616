"""BIF of a small MLP with its chains spread over processes.

    python -m torch.distributed.run --nproc_per_node 2 examples/distributed_mlp.py            # 2 CPU processes (gloo)
    python -m torch.distributed.run --nproc_per_node 2 examples/distributed_mlp.py --shards 2 # chains x training shards
    python -m torch.distributed.run --nproc_per_node 8 examples/distributed_mlp.py --device cuda  # one process per GPU (NCCL)

Every rank builds the same model and data (fixed seeds), `bif_distributed` gives every rank the same result;
rank 0 prints it and, with --check, compares it with a single-process `bif()` run.
"""
import argparse, time
import torch
from torch import nn
from sklearn.datasets import load_digits
from bif_nbdev.all import bif, bif_distributed, init_distributed, cross_entropy_loss

p = argparse.ArgumentParser()
p.add_argument('--chains', type=int, default=8); p.add_argument('--draws', type=int, default=100)
p.add_argument('--shards', type=int, default=1); p.add_argument('--device', default=None)
p.add_argument('--check', action='store_true', help='compare with single-process bif() on rank 0')
a = p.parse_args()

dev = init_distributed()                         # gloo on CPU, NCCL + cuda:LOCAL_RANK with GPUs
if a.device == 'cuda' and dev.type != 'cuda': raise SystemExit('--device cuda needs CUDA (and the NCCL backend).')
rank = torch.distributed.get_rank()
X, y = load_digits(return_X_y=True)
X, y = torch.tensor(X / 16., dtype=torch.float32), torch.tensor(y)
train, query = (X[:1000], y[:1000]), (X[1000:1100], y[1000:1100])
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.Adam(model.parameters(), 1e-2)
for _ in range(200):
    opt.zero_grad(); nn.functional.cross_entropy(model(train[0]), train[1]).backward(); opt.step()
model.to(dev)
kw = dict(chains=a.chains, draws=a.draws, seed=0)
t = time.time()
res = bif_distributed(model, train, query, cross_entropy_loss, shards=a.shards, device=dev, **kw)
if rank == 0:
    print(f"{torch.distributed.get_world_size()} processes, {a.shards} shard(s): {time.time() - t:.1f} s")
    print(res)
    print(res.top_k_table(0, 3))
    if a.check:
        ref = bif(model, train, query, cross_entropy_loss, progress=False, device=dev, **kw)
        print(f"max |Δscores| / max |scores| vs one process: {((res.scores - ref.scores.cpu()).abs().max() / ref.scores.abs().max()).item():.2e}")
torch.distributed.destroy_process_group()
