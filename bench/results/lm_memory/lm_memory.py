# RSS of bif()'s calibration and sampling on chapter 10b's lm_finetune setting (the defaults; a fresh process).
# BIF_NBDEV_CACHE=/work/cache PYTHONPATH=. python bench/results/lm_memory/lm_memory.py 100    # draws per chain
import sys, time, resource, torch
from bif_nbdev.lm_lds import lm_setting
from bif_nbdev.bif import calibrate, sample
from bif_nbdev.hf import causal_lm_sequence_loss
def peak(): return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
def cur():
    for l in open('/proc/self/status'):
        if l.startswith('VmRSS'): return round(int(l.split()[1]) / 1024)
torch.set_num_threads(1)
st = lm_setting('lm_finetune'); model = st.trained_model(seed=0)
cal = calibrate(model, st.train, causal_lm_sequence_loss)
print(cal, 'after calibration: peak', peak(), 'cur', cur(), flush=True)
t0 = time.time()
def cb(step, state):
    if step % 100 == 0: print(f"step {step} t {time.time() - t0:.0f}s peak {peak()} cur {cur()}", flush=True)
res = sample(model, st.train, st.query, causal_lm_sequence_loss, cal, draws=int(sys.argv[1]), progress=False, callback=cb)
print('done', res.config['batch_size'], 'peak', peak(), 'cur', cur(), flush=True)
