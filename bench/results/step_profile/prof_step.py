# Where a step of the model matrix's larger rows goes: bif's calibration, then cProfile of sample() with 5 and 15 steps (2 chains).
# PYTHONPATH=. OMP_NUM_THREADS=1 python bench/results/step_profile/prof_step.py pythia-70m   (log beside it)
import sys, time, cProfile, pstats, warnings, torch
warnings.filterwarnings('ignore'); torch.set_num_threads(1)
sys.path.insert(0, __import__('os').path.join(__import__('os').path.dirname(__file__), '..', '..'))
import model_matrix as MM
from bif_nbdev.bif import sample, sampling_cost, SamplingArguments
from bif_nbdev.calibrate import calibrate, default_batch_size
from bif_nbdev.hf import causal_lm_loss
name = sys.argv[1] if len(sys.argv) > 1 else 'pythia-70m'
model = MM.build(name); cfg = model.config
pad_id = cfg.pad_token_id if getattr(cfg, 'pad_token_id', None) is not None else (cfg.eos_token_id or 0)
train, query, lens = MM.make_data(cfg.vocab_size, pad_id, MM.ROWS[name][3])
budget = sampling_cost(SamplingArguments(chains=2, draws=20), MM.N_TRAIN, MM.N_QUERY, default_batch_size(MM.N_TRAIN))
t = time.perf_counter(); cal = calibrate(model, train, causal_lm_loss, budget=budget); print('calibration', round(time.perf_counter() - t, 1), cal, flush=True)
for steps in (5, 15):
    pr = cProfile.Profile(); pr.enable(); t = time.perf_counter()
    res = sample(model, train, query, causal_lm_loss, cal, chains=2, draws=2, burnin=steps - 2, thin=1, progress=False)
    pr.disable(); print(f'sample with {steps} steps: {time.perf_counter() - t:.1f} s', flush=True)
pstats.Stats(pr).sort_stats('tottime').print_stats(22)
pstats.Stats(pr).sort_stats('cumtime').print_stats(30)
