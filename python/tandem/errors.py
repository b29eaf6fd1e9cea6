"""Errors of the Tandem Python client, named as the C++ client names them.

A failed request raises a ``RequestError`` subclass named after the server's ErrorCode
(``UnknownEpisode``, ``BadObservation``, ...). It carries ``code``, ``request`` (for example
``"LogReturns(ep-1)"``) and ``message`` (the server's words). Errors of pipelined calls
(log_returns, log_action, end_episode) are raised by the next call or by ``flush()``;
``also_failed`` lists further pipelined calls that failed meanwhile.
"""

ERROR_CODES = [
    "None", "BadFrame", "UnsupportedVersion", "BadRequest", "UnknownEpisode", "DuplicateEpisode",
    "BadObservation", "BadAction", "UnknownAgent", "TooManyEpisodes", "UnknownPolicy", "Internal",
]


class TandemError(Exception):
    """Base of every error this package raises."""


class RequestError(TandemError):
    code = "Internal"

    def __init__(self, request, message, code=None, also_failed=()):
        self.code = code or type(self).code
        self.request = request
        self.message = message
        self.also_failed = list(also_failed)
        text = f"{request} failed: {self.code}: {message}"
        if self.also_failed:
            shown = ", ".join(self.also_failed[:8]) + (", ..." if len(self.also_failed) > 8 else "")
            text += f" (and {len(self.also_failed)} more pipelined call(s) failed: {shown})"
        super().__init__(text)


def _subclass(name):
    return type(name, (RequestError,), {"code": name, "__doc__": f"The server answered {name}."})


BadFrame = _subclass("BadFrame")
UnsupportedVersion = _subclass("UnsupportedVersion")
BadRequest = _subclass("BadRequest")
UnknownEpisode = _subclass("UnknownEpisode")
DuplicateEpisode = _subclass("DuplicateEpisode")
BadObservation = _subclass("BadObservation")
BadAction = _subclass("BadAction")
UnknownAgent = _subclass("UnknownAgent")
TooManyEpisodes = _subclass("TooManyEpisodes")
UnknownPolicy = _subclass("UnknownPolicy")
Internal = _subclass("Internal")

_BY_CODE = {c.code: c for c in (BadFrame, UnsupportedVersion, BadRequest, UnknownEpisode, DuplicateEpisode,
                                BadObservation, BadAction, UnknownAgent, TooManyEpisodes, UnknownPolicy,
                                Internal)}


def request_error(code, request, message):
    """The RequestError subclass for an ErrorCode name (Internal for an unknown one)."""
    cls = _BY_CODE.get(code, Internal)
    return cls(request, message, code=code if code in _BY_CODE else "Internal")


def first_of(errors):
    """What a call raises for several kept errors: the first, naming the others."""
    first = errors[0]
    if len(errors) == 1:
        return first
    others = [f"{e.request}: {e.code}" for e in errors[1:]]
    return type(first)(first.request, first.message, code=first.code, also_failed=others)


class TandemConnectionError(TandemError, ConnectionError):
    """The server cannot be reached (after reconnect_timeout), or broke the protocol."""


class ProtocolError(TandemConnectionError):
    """The peer sent something that is not a valid Tandem reply (garbage, wrong version)."""


class RefusedError(TandemConnectionError):
    """The server refused the connection at the handshake (401: token; 400: client id). Not retried."""
