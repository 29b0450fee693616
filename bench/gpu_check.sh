#!/usr/bin/env bash
# The benchmarks and the distributed check on a CUDA machine (prepared; not yet run on a GPU).
#   bash bench/gpu_check.sh            from the repository root; prints every table
set -euo pipefail
export PYTHONPATH=$PWD
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())"
python bench/bench_bif.py draw cov vmap --device cuda --repeats 5
NGPU=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  python -m torch.distributed.run --nproc_per_node "$NGPU" examples/distributed_mlp.py --device cuda --check
else  # one GPU: NCCL needs one GPU per process, so check the gloo path with the model on the GPU
  python -m torch.distributed.run --nproc_per_node 1 examples/distributed_mlp.py --device cuda --check
fi
