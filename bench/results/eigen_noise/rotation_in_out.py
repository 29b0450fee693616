"""Rotating into a Kronecker eigenbasis and out of it, on a GPT-2-shaped stack (256 → 768 → 3072 → 10) of nn.Linear or of
transformers' Conv1D, 2 chains: `PYTHONPATH=. python bench/results/eigen_noise/rotation_in_out.py linear|conv1d`."""
import time, torch, warnings, json, sys
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
from torch import nn
from transformers.pytorch_utils import Conv1D
from bif_nbdev.sgld import LocalPosterior, init_chains
from bif_nbdev.precond import kronecker_factors, KroneckerPreconditioner
torch.manual_seed(0)
kind = sys.argv[1]
L = (lambda i, o: Conv1D(o, i)) if kind == 'conv1d' else (lambda i, o: nn.Linear(i, o))
model = nn.Sequential(L(256, 768), nn.Tanh(), L(768, 3072), nn.Tanh(), L(3072, 10))
x = torch.randn(128, 256); y = torch.randint(0, 10, (128,))
lf = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1], reduction='none')
post = LocalPosterior(model, (x, y), lf, 128., 100., 32)
pre = KroneckerPreconditioner(post, kronecker_factors(post, 128, 0))
state = init_chains(post, 2, 0)
g = {k: torch.randn_like(v) for k, v in state.params.items()}
def t(f, n=5):
    f(); out = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); out.append(time.perf_counter() - t0)
    return sorted(out)[n // 2]
e = pre._to_eigen(g)
print(kind, json.dumps(dict(to=round(t(lambda: pre._to_eigen(g)), 3), frm=round(t(lambda: pre._from_eigen(e)), 3))))
