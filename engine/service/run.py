"""Running the service: the token file, the listening socket, uvicorn until SIGINT or SIGTERM."""
from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

from .notices import ServiceError, _stderr
from .log import DEFAULT_LOG_MAX_BYTES
from .api import create_app


def read_token(path: str | os.PathLike) -> str:
    """The bearer token in a file (surrounding whitespace stripped); ServiceError if it cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServiceError(f"--token-file {path}: no such file") from None
    except IsADirectoryError:
        raise ServiceError(f"--token-file {path} is a folder; give the file that holds the token") from None
    except OSError as exc:
        raise ServiceError(f"--token-file {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ServiceError(f"--token-file {path} is not text; put the token in it as one line") from None
    token = text.strip()
    if not token:
        raise ServiceError(f"--token-file {path} is empty; put a token in it, for example with "
                           f"`python -c 'import secrets; print(secrets.token_urlsafe(32))' > {path}`")
    if not (token.isascii() and token.isprintable()) or any(ch.isspace() for ch in token):
        raise ServiceError(f"--token-file {path}: the token must be one word of visible ASCII characters "
                           "(no spaces or line breaks inside), as an `Authorization: Bearer` header carries it")
    return token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say they are TCP,
    # and with it on a keep-alive connection waits ~40 ms for a delayed ACK between a response's parts
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def serve(policy_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8080, token_file=None,
          log_path=None, log_max_bytes: int | None = None, as_of: str | None = None, samples=None) -> None:
    """Run the service with uvicorn until SIGINT or SIGTERM, then stop cleanly (what `rules serve` does)."""
    import uvicorn

    token = read_token(token_file) if token_file is not None else None
    if token_file is not None and os.name == "posix" and os.stat(token_file).st_mode & 0o077:
        _stderr(f"rules serve: warning: {token_file} can be read by other users of this machine; "
                f"`chmod 600 {token_file}`")
    app = create_app(policy_dir, token=token, log_path=log_path,
                     log_max_bytes=DEFAULT_LOG_MAX_BYTES if log_max_bytes is None else log_max_bytes, as_of=as_of,
                     samples=samples)
    sock = _bind(host, port)
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    entries = app.state.store.entries
    counts = {s: sum(e.status == s for e in entries.values()) for s in ("ok", "error", "unavailable")}
    listed = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none yet: new files are picked up as they appear"
    where = f"[{host}]" if ":" in host else host
    _stderr(f"rules serve: {len(entries)} policies from {policy_dir} ({listed}) on http://{where}:{port}")
    for entry in entries.values():
        if entry.status != "ok":
            _stderr(f"  {entry.name}: {entry.status}: {entry.problem}")
    _stderr(f"  auth: {'bearer token from ' + str(token_file) if token else 'none'}; decision log: "
            f"{log_path or 'off'}; as of: {as_of or 'the day of each request'}; Ctrl-C stops it")
    _stderr(f"  workbench: http://{where}:{port}/ (sample data: {samples or 'none; give --samples DIR'})")
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        _stderr(f"rules serve: warning: listening on {host} without --token-file: anyone who can reach the port "
                "can decide records, read the policies and change them in the workbench")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                           server_header=False, timeout_graceful_shutdown=10))

    def stop(signum, frame):  # until uvicorn installs its own handlers, and when it hands the signal back
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    _stderr("rules serve: stopped")
