#!/usr/bin/env bash
# The benchmarks and the distributed check on a CUDA machine (prepared; not yet run on a GPU).
#   bash bench/gpu_check.sh            from the repository root; prints every table and saves them under bench/results/
# Budget: about 10 minutes on one recent GPU (the CPU-sized problems; the sweeps are short on a GPU).
set -euo pipefail
export PYTHONPATH=$PWD
OUT=bench/results/gpu-$(date -u +%Y%m%d-%H%M)
mkdir -p "$OUT"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())" | tee "$OUT/device.txt"
python bench/bench_bif.py draw cov vmap --device cuda --repeats 5 --threads 4 | tee "$OUT/bench_bif.txt"
if python -c "import kronfluence" 2>/dev/null; then
  python bench/ekfac_scaling.py width --device cuda --threads 4 --save "$OUT/ekfac_width.json" | tee "$OUT/ekfac_width.txt"
  python bench/ekfac_scaling.py data --hidden 512 --n 16,64,256 --q-ratio 4 --device cuda --threads 4 | tee "$OUT/ekfac_data.txt"
else echo "kronfluence not installed: skipping bench/ekfac_scaling.py (pip install --no-deps kronfluence einconv einops opt_einsum)"; fi
if python -c "import devinterp" 2>/dev/null; then
  python bench/devinterp_side.py --chains 2,8 --draws 50 --device cuda --threads 4 | tee "$OUT/devinterp_side.txt"
else echo "devinterp not installed: skipping bench/devinterp_side.py (pip install devinterp==2.0.1, if it keeps torch)"; fi
NGPU=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$NGPU" -ge 2 ]; then
  python -m torch.distributed.run --nproc_per_node "$NGPU" examples/distributed_mlp.py --device cuda --check | tee "$OUT/distributed.txt"
else  # one GPU: NCCL needs one GPU per process, so check the gloo path with the model on the GPU
  python -m torch.distributed.run --nproc_per_node 1 examples/distributed_mlp.py --device cuda --check | tee "$OUT/distributed.txt"
fi
echo "tables saved in $OUT (commit them)"
