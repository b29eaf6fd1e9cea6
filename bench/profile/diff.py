import sys, glob, pickle, os
import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cgparse import parse
def load(n, who):
    p=glob.glob(f'{os.environ.get("PROF_DIR", "results/profile")}/n{n}/{who}.*.out.1')[0]
    cache=p+'.pkl'
    if os.path.exists(cache): return pickle.load(open(cache,'rb'))
    r=parse(p); pickle.dump(r,open(cache,'wb')); return r
