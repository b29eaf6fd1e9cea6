"""The policy mapping as core/policy_mapping.h resolves it: an agent id listed exactly wins;
otherwise the glob patterns ('*': any run of characters, '?': one character; nothing else is
special) in the written order, the first match winning; no match: None (UnknownAgent).
GetConfig sends it as [[pattern, policy_id], ...] (the written order); a dict is accepted too."""


def glob_match(pattern, s):
    """Whole-string match of `s` against `pattern` ('*' and '?' only), as the C++ one."""
    pi = si = 0
    star, mark = -1, 0
    while si < len(s):
        if pi < len(pattern) and (pattern[pi] == "?" or (pattern[pi] != "*" and pattern[pi] == s[si])):
            pi += 1
            si += 1
        elif pi < len(pattern) and pattern[pi] == "*":
            star, mark = pi, si
            pi += 1
        elif star >= 0:
            pi = star + 1
            mark += 1
            si = mark
        else:
            return False
    while pi < len(pattern) and pattern[pi] == "*":
        pi += 1
    return pi == len(pattern)


class PolicyMapping:
    _CACHE_MAX = 4096  # agent ids resolved and kept (ids come from the simulator: bounded)

    def __init__(self, rules=None):
        if isinstance(rules, dict):
            rules = list(rules.items())
        # As PolicyMapping::add: a pattern given twice keeps its first place and takes the
        # later policy (GetConfig never sends duplicates; this keeps direct use alike).
        merged = {}
        for p, pid in (rules or []):
            merged[str(p)] = str(pid)
        self.rules = list(merged.items())
        self._exact = {p: pid for p, pid in self.rules if "*" not in p and "?" not in p}
        self._patterns = [(p, pid) for p, pid in self.rules if "*" in p or "?" in p]
        self._cache = {}

    def policy_for(self, agent_id):
        """The policy id of `agent_id`, or None when no rule places it."""
        try:
            return self._cache[agent_id]
        except KeyError:
            pass
        pid = self._exact.get(agent_id)
        if pid is None:
            pid = next((q for p, q in self._patterns if glob_match(p, agent_id)), None)
        if len(self._cache) >= self._CACHE_MAX:
            self._cache.clear()
        self._cache[agent_id] = pid
        return pid

    def agents_of(self, policy_id):
        """The rules (patterns or ids) that place agents on `policy_id`, in order."""
        return [p for p, pid in self.rules if pid == policy_id]
