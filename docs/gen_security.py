"""Regenerates docs/security.md: each requirement of the requirements list and the tests named
after it (`security_NN_...`). Usage: python3 docs/gen_security.py [path/to/SECURITY.md]
(default: the project's shared contract, ../shared/SECURITY.md from the repository root)."""
import re, subprocess, os, sys, collections
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
src = open(sys.argv[1] if len(sys.argv) > 1 else '../shared/SECURITY.md').read()
# requirements: numbered items, possibly multi-line
reqs = collections.OrderedDict(); section = None; order = []
lines = src.splitlines()
cur = None
for line in lines:
    m = re.match(r'^## (.*)', line)
    if m:
        section = m.group(1); order.append(('section', section)); cur = None; continue
    m = re.match(r'^(\d+)\. (.*)', line)
    if m:
        cur = int(m.group(1)); reqs[cur] = m.group(2); order.append(('req', cur)); continue
    if cur is not None and line.startswith('   ') and line.strip():
        reqs[cur] += ' ' + line.strip()
    elif not line.strip():
        cur = None
hostile_start = src.index('## Hostile inputs')
files = subprocess.run(['git','ls-files','*.rs'], capture_output=True, text=True).stdout.split()
tests = collections.defaultdict(list)
for f in files:
    text = open(f).read()
    for m in re.finditer(r'fn (security_[0-9_]+[a-z][a-z0-9_]*)', text):
        name = m.group(1)
        nums = re.match(r'security_((?:\d+_)+)', name).group(1).strip('_').split('_')
        for n in nums:
            tests[int(n)].append((name, f))
out = ['# Security and reliability requirements, and the tests behind them', '',
 'Each requirement below is a behaviour with at least one test that tries to break it. Tests are',
 'named `security_NN_...` after the requirement they check (a test may check several); the',
 'conformance scenarios in `tests/` run against all four frameworks (axum, Poem, Rocket, warp) and',
 'the store suite (`sesame::store::suite`) against every store (memory, sled, Redis).',
 'Requirements marked **open** have no test named after them yet: several are exercised by the',
 'conformance and hostile-input scenarios under other names (`tests/tests/conformance/scenarios/hostile.rs`),',
 'others belong to open issues (authorization, the second factor, Redis Cluster and TLS, metrics).',
 'Regenerate the table after adding a test: `python3 docs/gen_security.py`.', '']
for kind, v in order:
    if kind == 'section':
        if v.startswith('Hostile'):
            break
        out += ['', f'## {v}', '', '| # | requirement | tests |', '| --- | --- | --- |']
    else:
        t = sorted(set(tests.get(v, [])))
        cell = '<br>'.join(f'`{n}` ({f})' for n, f in t) if t else '**open**'
        out.append(f'| {v} | {reqs[v]} | {cell} |')
out += ['', src[hostile_start:].replace('## Hostile inputs and faults to throw at it', '## Hostile inputs and faults to throw at it').strip(), '']
open('docs/security.md','w').write('\n'.join(out))
print(sum(1 for k in reqs if tests.get(k)), 'of', len(reqs), 'covered')
