import sys, time, resource, torch, warnings
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
import model_matrix as MM
import bif_nbdev.calibrate as C, bif_nbdev.precond as P
from bif_nbdev.calibrate import calibrate, default_batch_size
from bif_nbdev.bif import sampling_cost, SamplingArguments
from bif_nbdev.hf import causal_lm_loss
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
def traced(mod, name):
    fn = getattr(mod, name)
    def w(*a, **k):
        b = peak()
        try: return fn(*a, **k)
        finally: print(f"  {mod.__name__.split('.')[-1]}.{name}: peak {b:.2f} -> {peak():.2f} GB", flush=True)
    setattr(mod, name, w)
for n in ('kronecker_factors', 'eigenvalue_correction', 'hessian_extremes', 'fit_sampler_preconditioner', 'stability_probe', 'lanczos', 'preconditioned_mean', 'preconditioned_ritz', 'KroneckerPreconditioner', 'mean_loss_grad'):
    for mod in (C, P):
        if hasattr(mod, n) and n not in ('mean_loss_grad',): traced(mod, n)
MM.ROWS["gpt2-2l"] = ("GPT2LMHeadModel", "GPT2Config", {"n_layer": 2}, "right", "")
name = sys.argv[1]
model = MM.build(name); cfg = model.config
pad = cfg.pad_token_id if getattr(cfg, 'pad_token_id', None) is not None else (cfg.eos_token_id or 0)
train, query, lens = MM.make_data(cfg.vocab_size, pad, MM.ROWS[name][3])
with torch.enable_grad(): causal_lm_loss(model, train).sum().backward()
model.zero_grad(set_to_none=True)
print(f"start {peak():.2f} GB; params {sum(p.numel() for p in model.parameters())/1e6:.1f}M", flush=True)
cal = calibrate(model, train, causal_lm_loss, budget=sampling_cost(SamplingArguments(chains=2, draws=20), 16, 4, default_batch_size(16)))
print(f"end {peak():.2f}", cal.eps, cal.nbeta, cal.gamma, cal.batch_size, {k: v for k, v in cal.estimates.items() if isinstance(v, (int, float))})
