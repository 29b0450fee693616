"""BIF with every default on real Hugging Face causal-LM configurations (issue 14): does it run, how long, how much memory.

    PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 10 python bench/model_matrix.py [--rows pythia-14m gpt2 ...] [--limit 1200]
    PYTHONPATH=. python bench/model_matrix.py --table          # print the table from bench/results/model_matrix.json

Each row builds a model from its published configuration (random weights, seed 0; nothing is downloaded) with the
attention implementation transformers chooses by default, makes 16 training + 4 query sequences of random tokens (33
positions; with padding, each text has 17 to 33 tokens and the rest is padding on the row's side, with an attention
mask), and calls `bif(model, train, query, causal_lm_loss, chains=2, draws=20, progress=False)` with every other
setting left at its default. Each row runs in a fresh subprocess, so its peak memory (RSS high-water mark) is its own
(about 0.5 GB of it is the imported torch/transformers).

The floor of a run = chains x (draws x one forward pass of the train+query sequences + SGLD steps per chain x one
forward+backward pass of the minibatch), with the plain model (no torch.func, no vmap); total/floor says how far the
engine (calibration included) is from that. A row whose floor, estimated before the run from its measured passes with
the fewest steps the defaults can take (50 burn-in + 20 draws), exceeds --limit seconds is not run and says so.
"""
import argparse, json, math, os, resource, subprocess, sys, time, traceback, warnings

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, 'results', 'model_matrix.json')
N_TRAIN, N_QUERY, SEQ, MIN_LEN = 16, 4, 33, 17
CALIBRATION_BYTES_PER_PARAM = 130  # peak RSS per parameter of the calibration (RSS in GiB × 2³⁰ / parameters, libraries included): GPT-2 127, OPT-125M 117, Pythia-70M 101 with this engine; 180 before float32 Lanczos; see README


def _cfg(cls_name, **kw):
    import transformers
    return getattr(transformers, cls_name)(**kw)


# Published configurations (the values of each model's config.json on the Hugging Face hub, written out here).
PYTHIA_14M = dict(vocab_size=50304, hidden_size=128, num_hidden_layers=6, num_attention_heads=4, intermediate_size=512,
                  rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False, max_position_embeddings=2048,
                  bos_token_id=0, eos_token_id=0)
PYTHIA_70M = dict(PYTHIA_14M, hidden_size=512, num_attention_heads=8, intermediate_size=2048)
SMOLLM_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                   num_key_value_heads=3, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                   tie_word_embeddings=True, hidden_act='silu', bos_token_id=0, eos_token_id=0)
OPT_125M = dict(vocab_size=50272, hidden_size=768, num_hidden_layers=12, ffn_dim=3072, num_attention_heads=12,
                max_position_embeddings=2048, do_layer_norm_before=True, word_embed_proj_dim=768, activation_function='relu',
                dropout=0.1, attention_dropout=0.0, pad_token_id=1, bos_token_id=2, eos_token_id=2, tie_word_embeddings=True)
QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                  tie_word_embeddings=True, hidden_act='silu', bos_token_id=151643, eos_token_id=151643, use_sliding_window=False)

# name: (model class, config class, config kwargs, padding side or None, what was changed from the published config)
ROWS = {
    'pythia-14m': ('GPTNeoXForCausalLM', 'GPTNeoXConfig', PYTHIA_14M, None, ''),
    'pythia-14m-left': ('GPTNeoXForCausalLM', 'GPTNeoXConfig', PYTHIA_14M, 'left', ''),
    'pythia-14m-tied': ('GPTNeoXForCausalLM', 'GPTNeoXConfig', dict(PYTHIA_14M, tie_word_embeddings=True), 'right',
                        'embeddings tied (published: untied)'),
    'smollm-135m-6l-left': ('LlamaForCausalLM', 'LlamaConfig', dict(SMOLLM_135M, num_hidden_layers=6), 'left',
                            '6 of 30 layers'),
    'pythia-70m': ('GPTNeoXForCausalLM', 'GPTNeoXConfig', PYTHIA_70M, 'right', ''),
    'gpt2': ('GPT2LMHeadModel', 'GPT2Config', {}, 'right', ''),
    'opt-125m': ('OPTForCausalLM', 'OPTConfig', OPT_125M, 'right', ''),
    'smollm-135m': ('LlamaForCausalLM', 'LlamaConfig', SMOLLM_135M, 'right', ''),
    'qwen2.5-0.5b-2l': ('Qwen2ForCausalLM', 'Qwen2Config', dict(QWEN25_05B, num_hidden_layers=2), 'left', '2 of 24 layers'),
    'qwen2.5-0.5b': ('Qwen2ForCausalLM', 'Qwen2Config', QWEN25_05B, 'right', ''),
}
PUBLISHED = {'pythia-14m': 'EleutherAI/pythia-14m', 'pythia-70m': 'EleutherAI/pythia-70m', 'gpt2': 'openai-community/gpt2',
             'smollm-135m': 'HuggingFaceTB/SmolLM-135M', 'opt-125m': 'facebook/opt-125m', 'qwen2.5-0.5b': 'Qwen/Qwen2.5-0.5B'}


def build(name):
    "The row's model (random init, seed 0, eval mode, the default attention implementation) and its config."
    import transformers, torch
    model_cls, cfg_cls, kw, _, _ = ROWS[name]
    cfg = _cfg(cfg_cls, **kw)
    torch.manual_seed(0)
    return getattr(transformers, model_cls)(cfg).eval()


def make_data(vocab, pad_id, padding, seed=0):
    "16 training + 4 query texts of random tokens as {'input_ids', 'attention_mask'} columns, [n, 33], padded on `padding`."
    import torch
    g = torch.Generator().manual_seed(seed)
    n = N_TRAIN + N_QUERY
    ids = torch.randint(0, vocab, (n, SEQ), generator=g)
    lens = torch.full((n,), SEQ) if padding is None else torch.randint(MIN_LEN, SEQ + 1, (n,), generator=g)
    pos = torch.arange(SEQ)[None]
    am = (pos >= SEQ - lens[:, None]) if padding == 'left' else (pos < lens[:, None])
    ids = torch.where(am, ids, pad_id)
    cols = lambda s: {'input_ids': ids[s], 'attention_mask': am[s].long()}
    return cols(slice(0, N_TRAIN)), cols(slice(N_TRAIN, n)), lens


def checksum(model):
    import hashlib
    h = hashlib.sha256()
    for k, v in model.state_dict().items(): h.update(k.encode()); h.update(v.detach().contiguous().reshape(-1).view(-1).numpy().tobytes())
    return h.hexdigest()


def timed(fn, repeats=3):
    "Median seconds of fn() over `repeats` calls, after one call to warm up."
    fn(); ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]


def peak_gb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def available_gb():
    with open('/proc/meminfo') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('MemAvailable:')) / 2 ** 20


def trace_stages(log:dict):
    "Record the process's peak RSS (GB) after each calibration stage and after the sampling, in `log` (stage -> GB)."
    import bif_nbdev.calibrate as C, bif_nbdev.bif as B
    def traced(mod, name):
        fn = getattr(mod, name)
        def wrapped(*a, **k):
            try: return fn(*a, **k)
            finally: log[name] = round(peak_gb(), 2)
        setattr(mod, name, wrapped)
    for name in ('kronecker_factors', 'hessian_extremes', 'fit_sampler_preconditioner', 'stability_probe'): traced(C, name)
    traced(B, 'losses_at_center')


def run_row(name, limit):
    "Run one row in this process; returns its measurements (a dict)."
    import torch
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    import bif_nbdev.bif as B
    from bif_nbdev.hf import causal_lm_loss
    model_cls, cfg_cls, kw, padding, change = ROWS[name]
    out = dict(row=name, model=model_cls, published=next(v for k, v in PUBLISHED.items() if name.startswith(k)), change=change, padding=padding or 'none', data='random tokens')
    model = build(name)
    cfg = model.config
    out.update(params=sum(p.numel() for p in model.parameters()), attn=cfg._attn_implementation,
               tied=bool(getattr(cfg, 'tie_word_embeddings', False)), vocab=cfg.vocab_size,
               layers=getattr(cfg, 'num_hidden_layers', None) or getattr(cfg, 'n_layer', None))
    pad_id = cfg.pad_token_id if getattr(cfg, 'pad_token_id', None) is not None else (cfg.eos_token_id or 0)
    train, query, lens = make_data(cfg.vocab_size, pad_id, padding)
    both = {k: torch.cat([train[k], query[k]]) for k in train}
    def fwd():
        with torch.no_grad(): causal_lm_loss(model, both)
    def fb():
        with torch.enable_grad(): causal_lm_loss(model, train).sum().backward()
        model.zero_grad(set_to_none=True)
    out['fwd_s'], out['fb_s'] = timed(fwd), timed(fb)
    out['peak_before_gb'] = round(peak_gb(), 2)  # the model, the data and one forward+backward pass
    out['peak_by_stage_gb'] = {}; trace_stages(out['peak_by_stage_gb'])
    before = checksum(model)
    chains, draws = 2, 20
    out['floor_min_s'] = chains * (draws * out['fwd_s'] + (50 + draws) * out['fb_s'])
    if out['floor_min_s'] > limit: return partial_row(out, model, train, query, causal_lm_loss, chains, draws, limit, before)
    clock = {}
    def timing(key, fn):  # time the engine's calibration and sampling inside bif() itself
        def wrapped(*a, **k):
            t = time.perf_counter()
            try: return fn(*a, **k)
            finally: clock[key] = clock.get(key, 0.0) + time.perf_counter() - t
        return wrapped
    B.calibrate, B._run = timing('calibration', B.calibrate), timing('sampling', B._run)
    t0 = time.perf_counter()
    try:
        res = B.bif(model, train, query, causal_lm_loss, chains=chains, draws=draws, progress=False)
    except Exception as e:
        out.update(ran=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-3000:], total_s=time.perf_counter() - t0)
        return out
    out['total_s'] = time.perf_counter() - t0
    out['peak_by_stage_gb']['bif'] = round(peak_gb(), 2)
    c, est = res.config, res.config['calibration']
    steps = c['burnin'] + c['draws'] * c['thin']
    out.update(ran=True, calibration_s=clock.get('calibration'), sampling_s=clock.get('sampling'),
               setup_s=out['total_s'] - clock.get('calibration', 0) - clock.get('sampling', 0),
               stages=est.get('seconds'), steps=steps, burnin=c['burnin'], thin=c['thin'], batch_size=c['batch_size'],
               chains_kept=len(c['chains_kept']), vectorized=c.get('vectorized'), reuse=c.get('reuse_step_losses'),
               eps=c['eps'], gamma=c['gamma'], nbeta=c['nbeta'], damping=est.get('damping'), hvp=est.get('hvp'),
               deflated=est.get('deflated'), precond_curvature=est.get('precond_curvature'), precond=c.get('precond'),
               kfac_coverage=est.get('kfac_coverage'), lambda_min=est.get('lambda_min'), lambda_max=est.get('lambda_max'),
               lanczos_steps=est.get('lanczos_steps'), eps_halvings=est.get('eps_halvings'), eps_restarts=est.get('eps_restarts', 0),
               kappa=c.get('kappa'), scores_shape=list(res.scores.shape), finite=bool(torch.isfinite(res.scores).all()),
               rhat=res.rhat, ess=res.ess, reliability=None if res.reliability is None else res.reliability.mean().item(),
               unchanged=checksum(model) == before and all(p.grad is None for p in model.parameters()))
    if c['batch_size'] != N_TRAIN:  # the floor needs the pass of the minibatch the chains used
        sub = {k: v[:c['batch_size']] for k, v in train.items()}
        def fb_b():
            with torch.enable_grad(): causal_lm_loss(model, sub).sum().backward()
            model.zero_grad(set_to_none=True)
        out['fb_s'] = timed(fb_b)
    out['floor_s'] = chains * (c['draws'] * out['fwd_s'] + steps * out['fb_s'])
    out['ratio'] = out['total_s'] / out['floor_s']
    return out


def partial_row(out, model, train, query, loss_fn, chains, draws, limit, before):
    """A row too slow to sample in full here: bif's calibration exactly as bif() runs it (same sampling budget), then 5 SGLD
    steps (3 burn-in, 2 kept draws) of the engine with that calibration, timed against the floor of those 5 steps."""
    import torch
    from bif_nbdev.bif import sample, sampling_cost, SamplingArguments
    from bif_nbdev.calibrate import calibrate, default_batch_size
    out.update(ran='partial', error=f"sampled 5 steps only: its floor with the fewest steps the defaults take (50 burn-in + 20 draws, "
                                    f"thin 1) is {out['floor_min_s']:.0f} s > {limit:.0f} s")
    budget = sampling_cost(SamplingArguments(chains=chains, draws=draws), N_TRAIN, N_QUERY, default_batch_size(N_TRAIN))
    need = CALIBRATION_BYTES_PER_PARAM * out['params'] / 2 ** 30
    if need > available_gb() - 2:
        out.update(ran=False, error=f"not run: its calibration would need about {need:.0f} GB ({CALIBRATION_BYTES_PER_PARAM} bytes per "
                                    f"parameter, as measured on the 125M-parameter rows) and {available_gb():.0f} GB are available")
        return out
    try:
        t = time.perf_counter(); cal = calibrate(model, train, loss_fn, budget=budget); out['calibration_s'] = time.perf_counter() - t
        est = cal.estimates
        out.update(stages=est.get('seconds'), batch_size=cal.batch_size, eps=cal.eps, gamma=cal.gamma, nbeta=cal.nbeta,
                   damping=est.get('damping'), hvp=est.get('hvp'), deflated=est.get('deflated'), precond_curvature=est.get('precond_curvature'),
                   precond=cal.precond_kind, kfac_coverage=est.get('kfac_coverage'), lambda_min=est.get('lambda_min'),
                   lambda_max=est.get('lambda_max'), lanczos_steps=est.get('lanczos_steps'), eps_halvings=est.get('eps_halvings'),
                   kappa=cal.kappa, burnin=cal.default_burnin(), thin=cal.default_thin())
        out['steps'] = out['burnin'] + draws * out['thin']
        t = time.perf_counter()
        out['peak_by_stage_gb']['calibrate'] = round(peak_gb(), 2)
        res = sample(model, train, query, loss_fn, cal, chains=chains, draws=2, burnin=3, thin=1, progress=False)
        out['short_sampling_s'] = time.perf_counter() - t
        out['peak_by_stage_gb']['sample'] = round(peak_gb(), 2)
        c = res.config
        out.update(vectorized=c.get('vectorized'), reuse=c.get('reuse_step_losses'), chains_kept=len(c['chains_kept']),
                   finite=bool(torch.isfinite(res.scores).all()), scores_shape=list(res.scores.shape),
                   unchanged=checksum(model) == before and all(p.grad is None for p in model.parameters()))
        out['short_floor_s'] = chains * (2 * out['fwd_s'] + 5 * out['fb_s'])
        out['short_ratio'] = out['short_sampling_s'] / out['short_floor_s']
        out['floor_s'] = chains * (draws * out['fwd_s'] + out['steps'] * out['fb_s'])
        out['projected_total_s'] = out['calibration_s'] + out['short_ratio'] * out['floor_s']
    except Exception as e:
        out.update(ran=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-3000:])
    return out


def child(name, limit):
    try: out = run_row(name, limit)
    except Exception as e: out = dict(row=name, ran=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-3000:])
    out['peak_rss_gb'] = peak_gb()
    print('RESULT ' + json.dumps(out), flush=True)


def _fmt(x, spec):
    return '' if x is None else format(x, spec)


def table(results) -> str:
    "The measurements as a markdown table."
    head = ('| row | params | attn | tied | padding | peak RSS (GB) | ran | calibration (s) | sampling (s) | total (s) | '
            'fwd train+query (s) | fwd+bwd minibatch (s) | steps/chain | floor (s) | total/floor | damping | eps | hvp | deflated | '
            'precond curvature |')
    rows = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in results:
        name = r['row'] + (f" ({r['change']})" if r.get('change') else '')
        part = r.get('ran') == 'partial'
        ran = 'yes' if r.get('ran') is True else 'calibration + 5 steps' if part else 'no: ' + r.get('error', '?').replace('|', '/')[:300]
        sampling = (f"{r['short_sampling_s']:.1f} for 5 steps ({r['short_ratio']:.2f}× their floor)" if part and 'short_ratio' in r
                    else _fmt(r.get('sampling_s'), '.1f'))
        total = f"≈{r['projected_total_s']:.0f} (projected)" if part and 'projected_total_s' in r else _fmt(r.get('total_s'), '.1f')
        ratio = f"≈{r['projected_total_s'] / r['floor_s']:.2f}" if part and 'projected_total_s' in r else _fmt(r.get('ratio'), '.2f')
        params = '' if r.get('params') is None else f"{r['params'] / 1e6:.1f}M"
        tied = '' if 'tied' not in r else 'tied' if r['tied'] else 'untied'
        rows.append(f"| {name} | {params} | {r.get('attn', '')} | {tied} | "
                    f"{r.get('padding', '')} | {_fmt(r.get('peak_rss_gb'), '.2f')} | {ran} | {_fmt(r.get('calibration_s'), '.1f')} | "
                    f"{sampling} | {total} | {_fmt(r.get('fwd_s'), '.2f')} | {_fmt(r.get('fb_s'), '.2f')} | {r.get('steps', '')} | "
                    f"{_fmt(r.get('floor_s'), '.0f')} | {ratio} | {_fmt(r.get('damping'), '.3g')} | {_fmt(r.get('eps'), '.3g')} | "
                    f"{r.get('hvp', '') or ''} | {'' if r.get('deflated') is None else r['deflated']} | {_fmt(r.get('precond_curvature'), '.3g')} |")
    return '\n'.join(rows)


def stages_table(results) -> str:
    "Per-row calibration stages and the other settings the defaults chose."
    rows = ['| row | calibration stages (s) | setup (s) | burn-in | thin | batch | vectorized | reuse step losses | λ_min | λ_max | '
            'Lanczos steps | K-FAC coverage | eps halvings | restarts | R̂ | ESS | reliability | model unchanged | peak RSS (GB) after: passes timed; each stage | engine |',
            '|' + '---|' * 20]
    for r in results:
        if not r.get('ran') or 'burnin' not in r: continue
        st = ', '.join(f"{k} {v:.1f}" for k, v in (r.get('stages') or {}).items())
        rows.append(f"| {r['row']} | {st} | {_fmt(r.get('setup_s'), '.1f')} | {r['burnin']} | {r['thin']} | {r['batch_size']} | "
                    f"{r.get('vectorized')} | {r.get('reuse')} | {_fmt(r.get('lambda_min'), '.3g')} | {_fmt(r.get('lambda_max'), '.3g')} | "
                    f"{r.get('lanczos_steps')} | {_fmt(r.get('kfac_coverage'), '.3f')} | {r.get('eps_halvings')} | {r.get('eps_restarts', '')} | "
                    f"{_fmt(r.get('rhat'), '.3f')} | {_fmt(r.get('ess'), '.0f')} | {_fmt(r.get('reliability'), '.2f')} | {r.get('unchanged')} | "
                    f"{r.get('peak_before_gb')}; " + ', '.join(f"{k} {v}" for k, v in (r.get('peak_by_stage_gb') or {}).items()) +
                    f" | {r.get('engine') or 'not recorded'} |")
    return '\n'.join(rows)


def engine_commit() -> str:
    "The commit the engine ran at (with '+changes' when bif_nbdev/ differed from it), or '' outside a git checkout."
    run = lambda *a: subprocess.run(['git', '-C', HERE, *a], capture_output=True, text=True).stdout.strip()
    head = run('rev-parse', '--short', 'HEAD')
    return head + ('+changes' if head and run('status', '--porcelain', '--', os.path.join(HERE, '..', 'bif_nbdev')) else '')


def load():
    if not os.path.exists(RESULTS): return {}
    with open(RESULTS) as f: return {r['row']: r for r in json.load(f)}


def save(results:dict):
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    order = [k for k in ROWS if k in results] + [k for k in results if k not in ROWS]
    with open(RESULTS, 'w') as f: json.dump([results[k] for k in order], f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--rows', nargs='*', default=list(ROWS), choices=list(ROWS))
    p.add_argument('--limit', type=float, default=600, help='skip a row whose estimated floor exceeds this many seconds')
    p.add_argument('--timeout', type=float, default=3600, help='kill a row after this many seconds')
    p.add_argument('--table', action='store_true', help='only print the table of the saved results')
    p.add_argument('--child', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child: return child(a.child, a.limit)
    results = load()
    if not a.table:
        for name in a.rows:
            t = time.time()
            env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
            try:
                cp = subprocess.run([sys.executable, __file__, '--child', name, '--limit', str(a.limit)], capture_output=True,
                                    text=True, timeout=a.timeout, env=env)
                line = [l for l in cp.stdout.splitlines() if l.startswith('RESULT ')]
                r = json.loads(line[-1][7:]) if line else dict(row=name, ran=False, error=f"exit {cp.returncode}: {cp.stderr[-500:]}")
            except subprocess.TimeoutExpired:
                r = dict(row=name, ran=False, error=f"killed after {a.timeout:.0f} s")
            r['wall_s'] = time.time() - t
            r['load_avg'] = os.getloadavg()[0]
            r['engine'] = engine_commit()
            results[name] = r; save(results)
            print(f"{name}: {'ran' if r.get('ran') else r.get('error')} in {r['wall_s']:.0f} s", flush=True)
    res = [results[k] for k in ROWS if k in results]
    print(table(res)); print(); print(stages_table(res))


if __name__ == '__main__':
    main()
