#!/usr/bin/env python3
"""Checks the folder layering of src/ against docs/architecture.md.

The document holds two fenced blocks:
  ```layers          one line per folder: "folder: the folders it may include"
  ```headers         one line per folder: "folder: the public headers (include/clinbench/) it owns"

The check fails, naming the file and line, when
  - the declared folder graph has a cycle, or a folder of src/ is not declared;
  - a public header is not owned by exactly one folder;
  - a file of src/ (or a public header, as its owner's) includes "folder/..." or "clinbench/x.h"
    of a folder its own may not reach (directly or through the folders it may include);
  - src/cli/ includes anything but its own headers and public ones (the CLI is thin);
  - a file outside src/model/ and src/backend/llama* includes llama.cpp's headers.

Usage: layers_test.py REPO_ROOT     (first checks itself on a small tree with known faults)
"""
import re
import sys
from pathlib import Path

LLAMA_HEADERS = re.compile(r'#include\s*<(llama[\w.-]*\.h|ggml[\w.-]*\.h|gguf\.h|chat\.h|common\.h)>')
PROJECT_INCLUDE = re.compile(r'#include\s*"([\w]+)/([\w./]+)"')


def blocks(doc: str, name: str) -> dict:
    m = re.search(r'```' + name + r'\n(.*?)```', doc, re.S)
    if not m:
        raise SystemExit(f'docs/architecture.md: no ```{name} block')
    table = {}
    for line in m.group(1).splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        folder, _, rest = line.partition(':')
        table[folder.strip()] = rest.split()
    return table


def reach(graph: dict) -> dict:
    """Transitive closure; raises on a cycle."""
    out, state = {}, {}

    def visit(node, path):
        if state.get(node) == 'done':
            return out[node]
        if state.get(node) == 'active':
            raise SystemExit('docs/architecture.md: the layers have a cycle: ' +
                             ' -> '.join(path + [node]))
        state[node] = 'active'
        acc = set()
        for dep in graph.get(node, []):
            if dep not in graph:
                raise SystemExit(f'docs/architecture.md: {node} may include {dep}, '
                                 'which is not a declared folder')
            acc.add(dep)
            acc |= visit(dep, path + [node])
        state[node] = 'done'
        out[node] = acc
        return acc

    for node in graph:
        visit(node, [])
    return out


def check(root: Path) -> int:
    doc = (root / 'docs/architecture.md').read_text()
    layers = blocks(doc, 'layers')
    headers = blocks(doc, 'headers')
    closure = reach(layers)
    errors = []

    owner = {}
    for folder, hs in headers.items():
        if folder not in layers:
            errors.append(f'docs/architecture.md: headers of undeclared folder {folder}')
        for h in hs:
            if h in owner:
                errors.append(f'docs/architecture.md: {h} owned by both {owner[h]} and {folder}')
            owner[h] = folder
    for h in sorted(p.name for p in (root / 'include/clinbench').glob('*.h')):
        if h not in owner:
            errors.append(f'include/clinbench/{h}: no folder owns it (docs/architecture.md)')

    src = root / 'src'
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        if d.name not in layers:
            errors.append(f'src/{d.name}/: not a declared layer (docs/architecture.md)')

    files = [(p, p.relative_to(src).parts[0]) for p in sorted(src.rglob('*'))
             if p.suffix in ('.h', '.cpp') and p.is_file()]
    # A public header belongs to its owner's layer: its includes are that folder's.
    files += [(p, owner[p.name]) for p in sorted((root / 'include/clinbench').glob('*.h'))
              if p.name in owner]
    for path, folder in files:
        rel = path.relative_to(root)
        allowed = closure.get(folder, set()) | {folder}
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = PROJECT_INCLUDE.match(line.strip())
            if m:
                target, name = m.group(1), m.group(2)
                dep = owner.get(name) if target == 'clinbench' else target
                if target == 'clinbench' and dep is None:
                    errors.append(f'{rel}:{lineno}: includes unknown public header {name}')
                    continue
                if folder == 'cli' and target not in ('cli', 'clinbench'):
                    errors.append(f'{rel}:{lineno}: the CLI includes {target}/{name}; '
                                  'it may include public headers only')
                elif dep not in allowed:
                    errors.append(f'{rel}:{lineno}: {folder}/ includes {target}/{name} '
                                  f'({dep}/), which it may not (docs/architecture.md)')
            if LLAMA_HEADERS.search(line):
                if folder != 'model' and not (folder == 'backend' and path.name.startswith('llama')):
                    errors.append(f'{rel}:{lineno}: includes llama.cpp ({line.strip()}); only '
                                  'src/model/ and src/backend/llama* may')
    for e in errors:
        print(e)
    if errors:
        print(f'{len(errors)} layering error(s)')
        return 1
    print(f'layers ok: {len(layers)} folders, {len(owner)} public headers')
    return 0


def self_test() -> None:
    """The check must catch what it is for: a tree with one fault of each kind fails, naming it."""
    import contextlib
    import io
    import tempfile
    doc = ('```layers\nutil:\neval: util\nmodel: eval util\ncli: model eval util\n```\n'
           '```headers\nutil: error.h\neval: item.h\nmodel: plan.h\n```\n')
    faults = {
        'src/util/a.cpp': '#include "eval/x.h"\n',            # upward include
        'src/eval/b.cpp': '#include "clinbench/plan.h"\n',     # upward through a public header
        'src/eval/c.cpp': '#include <llama.h>\n',              # llama.cpp outside model/
        'src/cli/d.cpp': '#include "model/x.h"\n',             # CLI past the public headers
        'src/extra/e.cpp': '',                                 # undeclared folder
        'include/clinbench/orphan.h': '',                      # header nobody owns
        'include/clinbench/item.h': '#include "clinbench/plan.h"\n',  # header reaching up
    }
    expected = ['src/util/a.cpp:1', 'src/eval/b.cpp:1', 'src/eval/c.cpp:1', 'src/cli/d.cpp:1',
                'src/extra/', 'orphan.h', 'include/clinbench/item.h:1']
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / 'docs').mkdir()
        (t / 'docs/architecture.md').write_text(doc)
        for d in ('util', 'eval', 'model', 'cli'):
            (t / 'src' / d).mkdir(parents=True)
        (t / 'include/clinbench').mkdir(parents=True)
        for name in ('error.h', 'plan.h'):
            (t / 'include/clinbench' / name).write_text('')
        (t / 'src/model/ok.cpp').write_text('#include "eval/x.h"\n#include <llama.h>\n')
        for rel, text in faults.items():
            (t / rel).parent.mkdir(parents=True, exist_ok=True)
            (t / rel).write_text(text)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = check(t)
        report = out.getvalue()
        missing = [e for e in expected if e not in report]
        if rc == 0 or missing or 'src/model/ok.cpp' in report:
            raise SystemExit('self-test failed: the check missed ' + str(missing) + '\n' + report)
        (t / 'docs/architecture.md').write_text(doc.replace('util:\n', 'util: cli\n'))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                check(t)
        except SystemExit as e:
            if 'cycle' not in str(e):
                raise
        else:
            raise SystemExit('self-test failed: a cycle util -> cli -> ... -> util passed')


if __name__ == '__main__':
    self_test()
    sys.exit(check(Path(sys.argv[1])))
