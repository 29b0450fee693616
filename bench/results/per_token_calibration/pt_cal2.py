import sys, time, torch, warnings
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2])); torch.set_num_threads(1)
from per_token_agreement import setup
from bif_nbdev.all import calibrate, causal_lm_loss
from bif_nbdev.bif import sampling_cost, SamplingArguments
model, train, query = setup()
t = time.perf_counter()
cal = calibrate(model, train, causal_lm_loss, budget=sampling_cost(SamplingArguments(chains=4, draws=150, burnin=200, thin=1), 104, 24, 32))
print(f'{time.perf_counter() - t:.1f}s', cal)
print({k: v for k, v in cal.estimates.items() if k in ('seconds', 'lanczos_steps', 'probe_steps', 'precond_curvature', 'deflated', 'hvp')})
