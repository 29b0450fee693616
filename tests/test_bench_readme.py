"""bench/README.md's suite tables are printed from the saved results, never edited by hand: each table under a
'#### TITLE' heading must equal the table `bench/suite.py --show bench/results/suite_all.json --wide` prints under
'### TITLE', and the summary table must be the one `--summary` prints. (A copy-paste once put the wall times under
the LDS heading; this catches it.)"""
import importlib.util, io, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'bench/results/suite_all.json'


def _suite():
    spec = importlib.util.spec_from_file_location('bench_suite', ROOT / 'bench/suite.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return m


def _tables(text, marker):
    out, cur = {}, None
    for l in text.splitlines():
        if l.startswith(marker + ' '): cur = l[len(marker) + 1:].strip(); out[cur] = []
        elif l.startswith('#'): cur = None
        elif cur is not None and l.startswith('|'): out[cur].append(l)
    return out


@pytest.fixture(scope='module')
def printed():
    import json
    m, res = _suite(), json.loads(RESULTS.read_text())
    wide, summ = io.StringIO(), io.StringIO()
    m.print_tables(res, file=wide, wide=True); m.print_summary(res, file=summ)
    return wide.getvalue(), summ.getvalue()


def test_suite_tables_in_bench_readme_are_the_printed_ones(printed):
    readme = _tables((ROOT / 'bench/README.md').read_text(), '####')
    wide = _tables(printed[0], '###')
    assert len(wide) >= 7
    for title, rows in wide.items():
        assert title in readme, f'bench/README.md has no "#### {title}" table'
        assert readme[title] == rows, f'bench/README.md: "#### {title}" differs from `suite.py --show --wide`'


def test_summary_table_in_bench_readme_is_the_printed_one(printed):
    text = (ROOT / 'bench/README.md').read_text()
    rows = [l for l in printed[1].splitlines() if l.startswith('|')]
    assert len(rows) > 13
    missing = [l for l in rows if l not in text]
    assert not missing, f'bench/README.md lacks these rows of `suite.py --show --summary`: {missing[:2]}'
