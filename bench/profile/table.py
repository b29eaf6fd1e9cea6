import sys; import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from groups import *
order=['kernel/syscalls + Asio','Asio any_executor type-erasure','Beast WebSocket','FlatBuffers verify+decode','request path','forward pass','reply encoding','allocation','logging','other']
G={}
for ab in ((2000,6000),(6000,10000),(2000,10000)):
    s,c,ci = per_rt(ab[0],ab[1],ab[0]+1000,ab[1]+1000)
    G[ab]=attribute(s,c,ci)[0]
T=sum(G[(2000,10000)].values())
for g in order:
    v=G[(2000,10000)].get(g,0)
    print(f"| {g} | {v:,.0f} | {100*v/T:.1f}% | {G[(2000,6000)].get(g,0):,.0f} / {G[(6000,10000)].get(g,0):,.0f} |")
print(f"| total | {T:,.0f} | 100% | {sum(G[(2000,6000)].values()):,.0f} / {sum(G[(6000,10000)].values()):,.0f} |")
