import sys, time, torch, warnings
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2])); torch.set_num_threads(1)
from per_token_agreement import setup
from bif_nbdev.all import bif, causal_lm_loss
model, train, query = setup()
stamps = []
t = time.perf_counter()
r = bif(model, train, query, causal_lm_loss, seed=0, progress=False, chains=4, draws=150, burnin=200, thin=1, callback=lambda *a: stamps.append(time.perf_counter()))
T = time.perf_counter() - t
print(f'total {T:.1f}s, before first step {stamps[0] - t:.1f}s, sampling {stamps[-1] - stamps[0]:.1f}s, after {time.perf_counter() - stamps[-1]:.1f}')
print({k: v for k, v in r.config.items() if k in ('eps', 'nbeta', 'gamma', 'batch_size', 'precond')})
print(r.calibration.estimates.get('stage_seconds') if hasattr(r, 'calibration') and r.calibration else '')
t = time.perf_counter()
r2 = bif(model, train, query, causal_lm_loss, seed=0, progress=False, chains=4, draws=150, burnin=200, nbeta=3., gamma=100., eps=1e-3)
print(f'hand total {time.perf_counter() - t:.1f}s')
