"""Merge the suite rerun after κ's fix into bench/results/suite_all.json.

κ for 'baoab' now weighs a kick's minibatch noise as the positions see it ((1+c)²/4 of an O-step noise; chapter
*Calibration*), which changes the default minibatch and the noise removed. The rerun, BIF with every default only:
    PYTHONPATH=. BIF_NBDEV_CACHE=... python bench/suite.py --half val --methods bif --out bench/results/kappa_fix/suite_val.json
    (and --half dev ... suite_dev.json, where it ran)
This script replaces each rerun setting's 'BIF (defaults)' in suite_all.json (the runs before the fix stay in
bench/results/scheme_baoab/suite_*.json as 'BIF (baoab)') and prints the before/after table of bench/README.md.

    python bench/results/kappa_fix/merge.py            # merge (done once)
    python bench/results/kappa_fix/merge.py --table    # the before/after table
"""
import json, sys
from pathlib import Path
here = Path(__file__).parent; target = here.parent / 'suite_all.json'; before_dir = here.parent / 'scheme_baoab'
halves = [h for h in ('dev', 'val') if (here / f'suite_{h}.json').exists()]

def table():
    print("| half | setting | LDS, κ before | LDS, κ now | difference | seconds, before / now | minibatch, before / now | ESS, before / now |")
    print('|---|---|---|---|---|---|---|---|')
    for half in halves:
        run, old = (json.loads(p.read_text()) for p in (here / f'suite_{half}.json', before_dir / f'suite_{half}.json'))
        for name, st in run['settings'].items():
            a, b = old['settings'][name]['methods']['BIF (baoab)'], st['methods']['BIF (defaults)']
            print(f"| {half} | {name} | {a['lds']:.3f} ± {a['se']:.3f} | {b['lds']:.3f} ± {b['se']:.3f} | {b['lds'] - a['lds']:+.3f} | "
                  f"{a['seconds']:.1f} / {b['seconds']:.1f} | {a['batch_size']} / {b['batch_size']} | {a['ess']:.0f} / {b['ess']:.0f} |")

if '--table' in sys.argv: table(); sys.exit()
res = json.loads(target.read_text())
for half in halves:
    run = json.loads((here / f'suite_{half}.json').read_text())
    for name, st in run['settings'].items():
        res['settings'][name]['methods']['BIF (defaults)'] = dict(st['methods']['BIF (defaults)'], kwargs={})
    res['commands'] = res.get('commands', []) + run['commands'] + [f'python bench/results/kappa_fix/merge.py ({half})']
target.write_text(json.dumps(res, indent=1))
print('updated', target, halves)
