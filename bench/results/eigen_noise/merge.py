"""Merge the suite rerun with the preconditioner working in its Kronecker eigenbasis into bench/results/suite_all.json.

The change moves no hyperparameter and no rule: the sampler's noise is drawn in the eigenbasis (an orthogonal rotation
of standard noise is standard noise) and the deflation's projection runs there, so only the random numbers differ.
The rerun, BIF with every default only:
    PYTHONPATH=. BIF_NBDEV_CACHE=... python bench/suite.py --half dev --methods bif --out bench/results/eigen_noise/suite_dev.json
    (and --half val ... suite_val.json)
The runs before it are bench/results/kappa_fix/suite_*.json. This script replaces each setting's 'BIF (defaults)' in
suite_all.json and prints the before/after table of bench/README.md; with --seeds, the iris seed study beside it.

    python bench/results/eigen_noise/merge.py            # merge (done once)
    python bench/results/eigen_noise/merge.py --table    # the before/after table
    python bench/results/eigen_noise/merge.py --seeds    # iris_mlp, seeds 1-8, each engine"""
import json, statistics, sys
from pathlib import Path
here = Path(__file__).parent; target = here.parent / 'suite_all.json'; before_dir = here.parent / 'kappa_fix'
halves = ('dev', 'val')

def table():
    print("| half | setting | LDS, before | LDS, eigenbasis | difference | draws, before / now | seconds, before / now | ESS, before / now |")
    print('|---|---|---|---|---|---|---|---|')
    for half in halves:
        run, old = (json.loads(p.read_text()) for p in (here / f'suite_{half}.json', before_dir / f'suite_{half}.json'))
        diffs = []
        for name, st in run['settings'].items():
            a, b = old['settings'][name]['methods']['BIF (defaults)'], st['methods']['BIF (defaults)']
            diffs.append(b['lds'] - a['lds'])
            print(f"| {half} | {name} | {a['lds']:.3f} ± {a['se']:.3f} | {b['lds']:.3f} ± {b['se']:.3f} | {diffs[-1]:+.3f} | "
                  f"{a['draws']} / {b['draws']} | {a['seconds']:.1f} / {b['seconds']:.1f} | {a['ess']:.0f} / {b['ess']:.0f} |")
        print(f"| {half} | mean of {len(diffs)} | | | {statistics.mean(diffs):+.3f} ± {statistics.stdev(diffs) / len(diffs) ** .5:.3f} | | | |")

def seeds():
    print('| engine | LDS per run (defaults, seed 1, seed 2, seeds 3-8) | mean ± SE |')
    print('|---|---|---|')
    for lab, d, sfile, s2 in (('before', before_dir, 'seeds_old', 'iris_seeds_old'), ('eigenbasis', here, 'seeds_new', 'iris_seeds_new')):
        runs = [json.loads((d / 'suite_val.json').read_text())['settings']['iris_mlp']['methods']['BIF (defaults)']['lds']]
        for f in (sfile, s2):
            runs += [m['lds'] for m in json.loads((here / f'{f}.json').read_text())['settings']['iris_mlp']['methods'].values()]
        print(f"| {lab} | {', '.join(f'{x:.3f}' for x in runs)} | {statistics.mean(runs):.3f} ± {statistics.stdev(runs) / len(runs) ** .5:.3f} |")

if '--table' in sys.argv: table(); sys.exit()
if '--seeds' in sys.argv: seeds(); sys.exit()
res = json.loads(target.read_text())
for half in halves:
    run = json.loads((here / f'suite_{half}.json').read_text())
    for name, st in run['settings'].items():
        res['settings'][name]['methods']['BIF (defaults)'] = dict(st['methods']['BIF (defaults)'], kwargs={})
    res['commands'] = res.get('commands', []) + run['commands'] + [f'python bench/results/eigen_noise/merge.py ({half})']
target.write_text(json.dumps(res, indent=1))
print('updated', target, halves)
