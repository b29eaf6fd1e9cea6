"""Minimal callgrind-format parser: self cost per (object, function), call edges (count, inclusive)."""
import re, sys, collections

def parse(path):
    names = {'ob': {}, 'fl': {}, 'fn': {}}
    selfc = collections.Counter()
    calls = collections.Counter()   # (caller, callee) -> count
    callinc = collections.Counter()  # (caller, callee) -> inclusive Ir
    ob = fn = None; cob = cfn = None
    pending_call = None
    def resolve(kind, rest):
        m = re.match(r'\((\d+)\)(?: (.*))?$', rest)
        if m:
            i, nm = m.group(1), m.group(2)
            if nm is not None:
                names[kind][i] = nm
            return names[kind][i]
        return rest
    with open(path, errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in '+-*':
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending_call is not None:
                    callinc[pending_call] += cost
                    pending_call = None
                else:
                    selfc[(ob, fn)] += cost
                continue
            if line.startswith('ob='):
                ob = resolve('ob', line[3:])
            elif line.startswith('fn='):
                fn = resolve('fn', line[3:]); cob = ob
            elif line.startswith('fl=') or line.startswith('fi=') or line.startswith('fe='):
                resolve('fl', line[3:])
            elif line.startswith('cob='):
                cob = resolve('ob', line[4:])
            elif line.startswith('cfi=') or line.startswith('cfl='):
                resolve('fl', line[4:])
            elif line.startswith('cfn='):
                cfn = resolve('fn', line[4:])
            elif line.startswith('calls='):
                n = int(line[6:].split()[0])
                key = ((ob, fn), (cob, cfn))
                calls[key] += n
                pending_call = key
                cob = ob  # cob defaults back to current ob for next call
            # other header lines ignored
    return selfc, calls, callinc
