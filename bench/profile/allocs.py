import sys; import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from groups import *
def run(a,b):
    s,c,ci = per_rt(a,b,a+1000,b+1000)
    callers = collections.defaultdict(list)
    for (cr, ce), v in ci.items():
        if v > 0 and cr != ce: callers[ce].append((cr, v))
    def dist(f, stack=frozenset()):
        g = classify(*f)
        if g and g!='allocation': return {g:1.0}
        cs = [(cc,v) for cc,v in callers.get(f,[]) if cc not in stack]
        tot = sum(v for _,v in cs)
        if tot<=0: return {'other':1.0}
        r=collections.Counter()
        for cc,v in cs:
            for gg,fr in dist(cc, stack|{f}).items(): r[gg]+=fr*v/tot
        return r
    out={}
    for label, tg, skip in (('malloc/new', {'malloc','new'}, {'new','delete','malloc','free'}), ('free/delete', {'free','delete'}, {'new','delete','malloc','free'}),
                            ('pthread_mutex_lock', {'pthread_mutex_lock@@GLIBC_2.2.5'}, set())):
        r=collections.Counter(); d=collections.Counter()
        for (cr,ce),n in c.items():
            if cr==ce or n<=0: continue
            hce = head(ce[1]) if ce[0].endswith(('libc.so.6','libstdc++.so.6.0.30')) else None
            if hce not in tg and ce[1] not in tg: continue
            if head(cr[1]) in skip and cr[0].endswith(('libc.so.6','libstdc++.so.6.0.30')): continue
            d[(cr[0].split('/')[-1], head(cr[1]))]+=n
            for g,fr in dist(cr).items(): r[g]+=n*fr
        out[label]=(r,d)
    return out
if __name__=='__main__':
    for ab in ((2000,6000),(6000,10000)):
        o=run(*ab)
        for label,(r,d) in o.items():
            print(ab,label, round(sum(r.values()),2), {k:round(v,2) for k,v in r.most_common()})
    o=run(2000,10000)
    for label,(r,d) in o.items():
        print(label, round(sum(r.values()),2))
        for k,v in d.most_common(40): 
            if v>0.05: print(f"     {v:6.2f} {k[0][:12]} {k[1][:110]}")
