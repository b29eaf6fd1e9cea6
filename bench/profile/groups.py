import sys, re, collections
import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from diff import load

def head(name):
    s = name
    # strip template args (nested)
    out=[]; depth=0
    for ch in s:
        if ch=='<': depth+=1; continue
        if ch=='>': depth-=1; continue
        if depth==0: out.append(ch)
    s=''.join(out)
    s=re.sub(r'\[abi:cxx11\]','',s)
    s=re.sub(r' \[clone [^\]]*\]','',s)
    # cut argument list: first '(' not part of "(anonymous namespace)" / operator()
    s=s.replace('(anonymous namespace)','{anon}').replace('operator()','operator<call>')
    s=s.replace('decltype(auto)','decltype_auto')
    i=s.find('(')
    if i>=0: s=s[:i]
    s=s.strip().split(' ')[-1] if s.strip() else s
    return s

ALLOC = {'malloc','free','_int_malloc','_int_free','malloc_consolidate','operator new','operator delete',
         'realloc','calloc','cfree','_int_realloc','unlink_chunk','tcache_init','sysmalloc','__libc_malloc','__libc_free',
         'aligned_alloc','posix_memalign','_int_memalign','_mid_memalign','new','delete','operator new[]','operator delete[]'}
SYSCALL = re.compile(r'^(epoll_wait|epoll_ctl|epoll_pwait|recvmsg|sendmsg|recv|send|__libc_recvmsg|__libc_sendmsg|__libc_recv|__libc_send|writev|readv|read|write|__libc_read|__libc_write|syscall|ioctl|__ioctl|clock_gettime|__clock_gettime|__GI___clock_gettime|timerfd_settime|eventfd_write|eventfd_read|__poll|poll|__lll_lock_wait|__lll_lock_wake|futex_wait|__futex_abstimed_wait_common|__futex_abstimed_wait_common64|pthread_cond_.*|___pthread_cond_.*|__pthread_cond_.*|std::chrono::_V2::steady_clock::now|std::chrono::_V2::system_clock::now|__clock_gettime64|__libc_recvmsg|__libc_sendmsg)$')

def classify(obj, name):
    h = head(name)
    o = (obj or '').split('/')[-1]
    raw = name.replace('operator new','operator new').strip()
    base = re.sub(r'\(.*','',raw).strip()
    base = re.sub(r'@@?GLIBC.*','',base)
    if base in ALLOC or h in ('operator new','operator delete') or raw.startswith('operator new') or raw.startswith('operator delete'):
        return 'allocation'
    if SYSCALL.match(base) or SYSCALL.match(h):
        return 'kernel/syscalls + Asio'
    if h.startswith('boost::asio::execution::') or (h.startswith('boost::optional_detail::') and 'any_executor' in name) or h.startswith('asio_prefer_fn') or h.startswith('asio_require_fn') or h.startswith('asio_query_fn') or h.startswith('asio_execution_'):
        return 'Asio any_executor type-erasure'
    if h.startswith('boost::asio::'):
        return 'kernel/syscalls + Asio'
    if h.startswith('boost::beast::'):
        return 'Beast WebSocket'
    if h.startswith('flatbuffers::FlatBufferBuilder') or h.startswith('flatbuffers::vector_downward') or h.startswith('flatbuffers::DefaultAllocator') or h.startswith('flatbuffers::Allocator'):
        return 'reply encoding'
    if h.startswith('flatbuffers::'):
        return 'FlatBuffers verify+decode'
    if h.startswith('tandem::wire::'):
        enc = ('encode' in h or '::put' in h or 'agent_actions' in h or 'finish' in h or 'create' in h.lower())
        if 'fingerprint' in h: return 'request path'
        return 'reply encoding' if enc else 'FlatBuffers verify+decode'
    if h.startswith('tandem::algo::') or h.startswith('tandem::core::action_logp'):
        return 'forward pass'
    if h.startswith('tandem::server::') or h.startswith('tandem::core::'):
        return 'request path'
    if h.startswith('spdlog::') or h.startswith('fmt::'):
        return 'logging'
    if o.startswith('libpthreadpool') or o.startswith('libgomp') or o.startswith('libopenblas') or o.startswith('libhwy') or o.startswith('libnuma'):
        return 'other'
    if h.startswith('at::') or h.startswith('c10::') or h.startswith('torch::') or o.startswith('libtorch') or o.startswith('libc10'):
        return 'forward pass'
    return None  # generic: inherit from callers

def per_rt(a, b, calls_a, calls_b):
    Ra, Rb = load(a,'server'), load(b,'server')
    d = calls_b - calls_a
    res = []
    for i in range(3):
        c = collections.Counter()
        for k in set(Ra[i])|set(Rb[i]):
            c[k] = (Rb[i].get(k,0)-Ra[i].get(k,0))/d
        res.append(c)
    return res

def attribute(selfc, calls, callinc):
    callers = collections.defaultdict(list)
    for (cr, ce), v in callinc.items():
        if v > 0 and cr != ce: callers[ce].append((cr, v))
    memo = {}
    def dist(f, stack):
        if f in memo: return memo[f]
        g = classify(*f)
        if g: memo[f] = {g:1.0}; return memo[f]
        cs = [(c,v) for c,v in callers.get(f,[]) if c not in stack]
        tot = sum(v for _,v in cs)
        if tot <= 0:
            r = {'other':1.0}
        else:
            r = collections.Counter()
            for c,v in cs:
                for gg,fr in dist(c, stack|{f}).items(): r[gg]+= fr*v/tot
        if not (stack):  # only memoize top-level results (cycle-safe enough)
            memo[f]=r
        return r
    groups = collections.Counter(); members = collections.defaultdict(collections.Counter)
    for f, v in selfc.items():
        if v == 0: continue
        for g, fr in dist(f, frozenset()).items():
            groups[g] += v*fr; members[g][f] += v*fr
    return groups, members
