"""Merge the side-by-side run of the two schemes into bench/results/suite_all.json (this release's change of default).

The run (both halves, one process per half, the 'lm' and 'baoab' runs of a setting one after the other, so under the
same load):
    PYTHONPATH=. BIF_NBDEV_CACHE=... python bench/suite.py --half dev --methods bif --bif-kwargs '{"scheme":"baoab"}' \
        --bif-label baoab --out bench/results/scheme_baoab/suite_dev.json        # and --half val ... suite_val.json
ran before the default changed, so its 'BIF (defaults)' is the 'lm' scheme and 'BIF (baoab)' is what `bif()` now does
with every default ('auto' picks 'baoab' where the Kronecker preconditioner is fitted: every suite setting). This
script stores the first as "BIF (scheme 'lm', former default)" and the second as 'BIF (defaults)'.

    python bench/results/scheme_baoab/merge.py            # merge (done once)
    python bench/results/scheme_baoab/merge.py --table    # print the side-by-side table of bench/README.md
"""
import json, sys
from pathlib import Path
here = Path(__file__).parent; target = here.parent / 'suite_all.json'

def table():
    print("| half | setting | LDS, 'lm' | LDS, 'baoab' | difference | seconds, 'lm' / 'baoab' | draws | minibatch | ESS |")
    print('|---|---|---|---|---|---|---|---|---|')
    for half in ('dev', 'val'):
        run = json.loads((here / f'suite_{half}.json').read_text())
        for name, st in run['settings'].items():
            a, b = st['methods']['BIF (defaults)'], st['methods']['BIF (baoab)']
            print(f"| {half} | {name} | {a['lds']:.3f} ± {a['se']:.3f} | {b['lds']:.3f} ± {b['se']:.3f} | {b['lds'] - a['lds']:+.3f} | "
                  f"{a['seconds']:.1f} / {b['seconds']:.1f} | {a['draws']} / {b['draws']} | {a['batch_size']} / {b['batch_size']} | "
                  f"{a['ess']:.0f} / {b['ess']:.0f} |")

if '--table' in sys.argv: table(); sys.exit()
res = json.loads(target.read_text())
for half in ('dev', 'val'):
    run = json.loads((here / f'suite_{half}.json').read_text())
    for name, st in run['settings'].items():
        ms = res['settings'][name]['methods']
        ms["BIF (scheme 'lm', former default)"] = dict(st['methods']['BIF (defaults)'], kwargs={'scheme': 'lm'})
        ms['BIF (defaults)'] = dict(st['methods']['BIF (baoab)'], kwargs={})
    res['commands'] = res.get('commands', []) + run['commands'] + [f'python bench/results/scheme_baoab/merge.py ({half})']
target.write_text(json.dumps(res, indent=1))
print('updated', target)
