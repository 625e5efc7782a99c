"""A real S3-compatible server (MinIO) on loopback, for integration tests.

Usage::

    with S3Server() as s3:
        s3.make_bucket("orchard")
        s3.upload_dir("testdata/images", "orchard", "images")
        subprocess.run([...], env={**os.environ, **s3.env()}, check=True)
        fs = s3.filesystem()            # pyarrow.fs.S3FileSystem
        s3.stop(); ...; s3.start()      # simulated outage, same port and data

The server binary is <repo>/.deps/bin/minio, built by scripts/install-minio.sh;
the environment variable ORCHARD_MINIO overrides the path. Each S3Server has its
own port, credentials and temporary folder (data, log, MinIO's HOME), so tests can
run several in parallel; everything is removed on exit, and the process is killed
even if the test process dies (PR_SET_PDEATHSIG on Linux).

Only the standard library and pyarrow are needed.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow.fs as pafs

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / ".deps" / "bin" / "minio"
REGION = "us-east-1"

# How long start() waits for the server to answer before giving up. MinIO is
# normally ready in 1-3 s; the margin is for a loaded 2-core CI machine.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class S3ServerError(RuntimeError):
    """The server could not be started (message includes the log tail)."""


class S3ServerNotInstalled(S3ServerError):
    """The MinIO binary is missing."""


def find_binary() -> Path:
    """Path of the MinIO binary, or S3ServerNotInstalled with what to run."""
    path = Path(os.environ.get("ORCHARD_MINIO") or DEFAULT_BINARY)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise S3ServerNotInstalled(
            f"MinIO server binary not found at {path}. "
            f"Run scripts/install-minio.sh (builds it into {DEFAULT_BINARY}), "
            "or point ORCHARD_MINIO at a minio binary."
        )
    return path


def _free_loopback_port() -> int:
    # The port is free now; the server binds it a moment later. A rare race with
    # another process is handled by start() retrying with a new port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _random_key(length: int) -> str:
    # Letters and digits only: safe in env vars, URLs and command lines alike.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the server if the process that started it dies.

    Linux only; a no-op elsewhere. Note: the signal fires when the *thread* that
    forked exits, so start servers from a long-lived thread (pytest's main one).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


# urllib opener that ignores any http(s)_proxy settings: loopback must be direct.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class S3Server:
    """A MinIO server on 127.0.0.1 with a private data folder and random keys."""

    def __init__(self, binary: str | os.PathLike | None = None):
        self.binary = Path(binary) if binary else find_binary()
        self.access_key = _random_key(20)
        self.secret_key = _random_key(40)
        self.port: int | None = None
        self.root = Path(tempfile.mkdtemp(prefix="orchard-s3-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "minio.log"
        self._proc: subprocess.Popen | None = None
        self._closed = False
        for d in (self.data_dir, self.root / "home", self.root / "certs"):
            d.mkdir()
        # Safety net for callers that skip the context manager or close().
        atexit.register(self.close)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> "S3Server":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Starts the server; after stop(), on the same port, keys and data."""
        if self._closed:
            raise S3ServerError("S3Server is closed")
        if self.running:
            return
        if self.port is not None:
            self._start_on(self.port)  # a restart keeps its port, no retry
            return
        # First start: choose a port; retry if someone else grabbed it meanwhile.
        for attempt in range(3):
            self.port = _free_loopback_port()
            try:
                self._start_on(self.port)
                return
            except S3ServerError as e:
                if attempt == 2 or "address already in use" not in str(e).lower():
                    self.port = None
                    raise

    def stop(self, kill: bool = False) -> None:
        """Stops the server (SIGTERM, or SIGKILL with kill=True); data is kept."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stops the server and deletes the temporary folder. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.close)

    def _start_on(self, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            # No web console, so no second listening port.
            MINIO_BROWSER="off",
            # CI mode: caps MinIO's buffer pool at 256 MiB (it takes half of RAM
            # otherwise) and allows a data folder on the root filesystem.
            MINIO_CI_CD="1",
            MINIO_UPDATE="off",
            # MinIO keeps state under $HOME/.minio; keep it in our temp folder.
            HOME=str(self.root / "home"),
        )
        cmd = [
            str(self.binary), "server",
            "--address", f"127.0.0.1:{port}",
            "--certs-dir", str(self.root / "certs"),
            str(self.data_dir),
        ]
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop(kill=True)
            raise

    def _wait_ready(self) -> None:
        # /minio/health/live answers as soon as HTTP is up; /minio/health/cluster
        # only once the storage layer is initialised. Root credentials can still
        # be refused briefly after that (IAM starts in the background), so an
        # authenticated request is the final check.
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"{self.endpoint}/minio/health/cluster"
        healthy = False
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self._error(f"MinIO exited with status {self._proc.returncode}")
            try:
                if not healthy:
                    with _DIRECT.open(url, timeout=2) as r:
                        healthy = r.status == 200
                if healthy:
                    fs = self.filesystem(connect_timeout=2, request_timeout=5)
                    fs.get_file_info(pafs.FileSelector("", recursive=False))
                    return
            except (urllib.error.URLError, OSError) as e:
                last = str(e)
            time.sleep(0.1)
        raise self._error(f"MinIO did not become ready within {START_TIMEOUT_S:.0f} s ({last})")

    def _error(self, what: str) -> S3ServerError:
        try:
            tail = "".join(self.log_path.read_text(errors="replace").splitlines(True)[-40:])
        except OSError:
            tail = "(no log)"
        return S3ServerError(f"{what}; endpoint {self.endpoint}; log {self.log_path}:\n{tail}")

    # ------------------------------------------------------------ client side

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a process (e.g. orchard) that should use this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # Stops the AWS SDK from probing the (absent) EC2 metadata service.
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def filesystem(self, **overrides) -> pafs.S3FileSystem:
        """A pyarrow S3FileSystem for this server; keyword arguments override."""
        options = dict(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=f"127.0.0.1:{self.port}",
            scheme="http",
            region=REGION,
            force_virtual_addressing=False,  # path-style: bucket in the path
            allow_bucket_creation=True,
            allow_bucket_deletion=True,
        )
        options.update(overrides)
        return pafs.S3FileSystem(**options)

    def make_bucket(self, name: str) -> str:
        self.filesystem().create_dir(name)
        return name

    def upload_dir(self, local_dir: str | os.PathLike, bucket: str, prefix: str = "",
                   workers: int = 8) -> list[str]:
        """Uploads every file under local_dir to bucket/prefix/<relative path>.

        Returns the object keys, sorted. Empty folders are not represented (S3
        has no folders).
        """
        local_dir = Path(local_dir)
        prefix = prefix.strip("/")
        files = []
        for dirpath, _dirs, names in os.walk(local_dir):
            for name in names:
                path = Path(dirpath) / name
                rel = path.relative_to(local_dir).as_posix()
                files.append((path, f"{prefix}/{rel}" if prefix else rel))
        fs = self.filesystem()

        def put(item):
            path, key = item
            with open(path, "rb") as src, fs.open_output_stream(f"{bucket}/{key}") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)

        # Parallel uploads: with many small files the round trips dominate.
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(put, files):
                pass
        return sorted(key for _, key in files)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<S3Server {self.endpoint} {state} data={self.data_dir}>"
