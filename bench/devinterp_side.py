"""(4) bif_nbdev.bif side by side with devinterp 2.0.1's BIF (`devinterp.slt.sampling.sample` + `compute_bif`, the paper
authors' library) on the same Pythia-style GPTNeoX and data: time, bare-forward multiples per draw, peak memory, disk,
and agreement of the per-sequence matrices.

    PYTHONPATH=. python bench/devinterp_side.py                    # 2 x 50 and 8 x 50 draws
    PYTHONPATH=. python bench/devinterp_side.py --chains 2 --draws 50 --device cuda

Each run is a fresh subprocess (peak RSS = resource.getrusage(RUSAGE_SELF).ru_maxrss at its end; 'model RSS' = after
building the model, before sampling). Both samplers get the same posterior: devinterp's update
Δθ = −lr/2·(n_beta·∇mean-token-loss + localization·(θ−θ₀)) + √lr·N(0, 1) is ours with lr = eps, localization = gamma and
n_beta = nbeta·(tokens per sequence), because our per-example loss is the SUM over a sequence's tokens and devinterp
averages over tokens. Its 'sequence' covariance is of the token MEAN, so ours (−Cov of the token sum) = −S²·devinterp's.
Agreement is the Pearson correlation of the two n_train × n_query matrices (after that conversion), next to the same
correlation between two of our runs with different seeds (the Monte Carlo noise floor at that number of draws).
"""
import argparse, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time
import torch
sys.path.insert(0, os.path.dirname(__file__))
from common import gptneox_problem, token_loss, median_time, cuda_sync

HP = dict(eps=2e-6, gamma=1e5, nbeta=64., batch_size=16, burnin=20)  # nbeta = n; eps·λmax(nβH + γ) ≈ 0.8 (stable), relaxation 1/(eps·gamma) = 5 steps


def seq_loss(model, batch):
    "Per-sequence loss = sum of the per-token losses (so SGLD is the same as with per-token losses)."
    return token_loss(model, batch).sum(1)


def _rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(a):
    torch.set_num_threads(a.threads)
    model, (tr,), (qu,), _ = gptneox_problem(device=a.device)
    sync = cuda_sync(a.device)
    def fwd():
        with torch.no_grad(): token_loss(model, (torch.cat([tr, qu]),))
    t_fwd, _ = median_time(fwd, 5, sync=sync)
    rss0 = _rss_mb()
    S = tr.shape[1] - 1
    out = dict(method=a.worker, chains=a.chains, draws=a.draws, seed=a.seed, t_fwd=t_fwd, rss_model_mb=rss0,
               params=sum(p.numel() for p in model.parameters()))
    if a.worker.startswith('ours'):
        from bif_nbdev.bif import bif
        lf = token_loss if a.worker == 'ours-token' else seq_loss  # 'ours-noreuse': per sequence, reuse_step_losses=False
        t = time.perf_counter()
        r = bif(model, (tr,), (qu,), lf, chains=a.chains, draws=a.draws, burnin=HP['burnin'], eps=HP['eps'], gamma=HP['gamma'],
                nbeta=HP['nbeta'], batch_size=HP['batch_size'], seed=a.seed, progress=False, device=a.device,
                reuse_step_losses=a.worker != 'ours-noreuse')
        if sync: sync()
        out['seconds'] = time.perf_counter() - t
        out['scores'] = r.per_sequence().scores.tolist()
        out['disk_mb'] = 0.
    else:
        from datasets import Dataset
        from devinterp.slt.sampling import sample
        from devinterp.slt.bif import compute_bif
        ds = lambda x: Dataset.from_dict({'input_ids': x.cpu().tolist()}).with_format('torch')
        train_ds, query_ds = ds(tr), ds(qu)
        B = HP['batch_size']
        path = os.path.join(tempfile.mkdtemp(), 'samples.zarr')
        t = time.perf_counter()
        samples = sample(model, train_ds, {'train': (train_ds, len(tr) // B), 'query': (query_ds, len(qu) // B)},
                         lr=HP['eps'], n_beta=HP['nbeta'] * S, localization=HP['gamma'], num_chains=a.chains, num_draws=a.draws,
                         batch_size=B, num_burnin_steps=HP['burnin'], num_init_loss_batches=len(tr) // B, init_seed=a.seed,
                         device=a.device, output_path=path)
        t_sample = time.perf_counter() - t
        res = compute_bif(samples, correlation_method='sequence', compute_covariance=True, device=a.device)
        out['seconds'] = time.perf_counter() - t
        out['seconds_sample'] = t_sample
        out['disk_mb'] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2 ** 20
        # rows/columns back to our order by matching input_ids; the observables are concatenated train then query
        ids = torch.as_tensor(res['input_ids'].values)
        allids = torch.cat([tr, qu]).cpu()
        pos = [int((allids == row).all(1).nonzero()[0]) for row in ids]
        M = torch.as_tensor(res['influences'].values, dtype=torch.float64)
        full = torch.zeros(len(allids), len(allids), dtype=torch.float64)
        full[torch.tensor(pos)[:, None], torch.tensor(pos)[None, :]] = M
        out['scores'] = (-(S ** 2) * full[:len(tr), len(tr):]).tolist()   # ours: −Cov(token sum) = −S²·Cov(token mean)
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    out['rss_peak_mb'] = _rss_mb()
    json.dump(out, open(a.out, 'w'))


def run(method, chains, draws, seed, a):
    f = tempfile.mktemp(suffix='.json')
    cmd = [sys.executable, __file__, '--worker', method, '--chains', str(chains), '--draws', str(draws), '--seed', str(seed),
           '--device', a.device, '--threads', str(a.threads), '--out', f]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"{method} failed:\n{p.stderr[-3000:]}")
    r = json.load(open(f)); os.remove(f); return r


def _corr(A, B):
    A, B = torch.tensor(A).flatten(), torch.tensor(B).flatten()
    return torch.corrcoef(torch.stack([A, B]))[0, 1].item()


def main(a):
    load = f", load avg {os.getloadavg()[0]:.1f}" if hasattr(os, 'getloadavg') else ''
    dev = torch.cuda.get_device_name() if a.device == 'cuda' else f"CPU, {a.threads} thread(s)"
    print(f"(4) bif_nbdev vs devinterp 2.0.1 BIF  [torch {torch.__version__}, {dev}{load}]")
    print(f"GPTNeoX h64 L2 vocab 512, 64 train + 16 query sequences of 64 tokens; eps {HP['eps']:g}, gamma {HP['gamma']:g}, "
          f"nbeta {HP['nbeta']:g} (devinterp n_beta {HP['nbeta'] * 63:g}), batch {HP['batch_size']}, burn-in {HP['burnin']}")
    print("x fwd/draw = seconds / (chains * draws * one no-grad forward of all 80 sequences); includes burn-in and setup")
    print("corr = Pearson correlation of the 64 x 16 per-sequence matrices: vs devinterp, and vs our own run with seed 1")
    print(f"{'method':14} {'chains':>6} {'draws':>5} {'seconds':>8} {'x fwd/draw':>10} {'model RSS':>9} {'peak RSS':>9} {'disk MB':>8} {'corr dv':>8} {'corr seed':>9}")
    for C in a.chains:
        rs = {m: run(m, C, a.draws, 0, a) for m in a.methods}
        rs['ours-seed1'] = run('ours', C, a.draws, 1, a)
        for m in a.methods:
            r = rs[m]
            x = r['seconds'] / (C * a.draws * r['t_fwd'])
            cdv = _corr(r['scores'], rs['devinterp']['scores']) if m != 'devinterp' and 'devinterp' in rs else float('nan')
            cse = _corr(r['scores'], rs['ours-seed1']['scores']) if m.startswith('ours') else float('nan')
            extra = f"  (sampling {r['seconds_sample']:.1f} s)" if 'seconds_sample' in r else ''
            print(f"{m:14} {C:6d} {a.draws:5d} {r['seconds']:8.1f} {x:10.2f} {r['rss_model_mb']:9.0f} {r['rss_peak_mb']:9.0f} "
                  f"{r['disk_mb']:8.1f} {cdv:8.3f} {cse:9.3f}{extra}")
        sys.stdout.flush()


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--worker', default=None); p.add_argument('--out', default=None); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--chains', default='2,8'); p.add_argument('--draws', type=int, default=50)
    p.add_argument('--methods', default='devinterp,ours,ours-noreuse,ours-token')
    p.add_argument('--device', default='cpu'); p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    if a.worker:
        a.chains = int(a.chains); worker(a)
    else:
        a.chains = [int(c) for c in a.chains.split(',')]; a.methods = a.methods.split(','); main(a)
