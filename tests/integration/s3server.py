"""A real S3-compatible server (SeaweedFS) on loopback, for integration tests.

Usage::

    with S3Server() as s3:
        s3.make_bucket("orchard")
        s3.upload_dir("testdata/images", "orchard", "images")
        subprocess.run([...], env={**os.environ, **s3.env()}, check=True)
        fs = s3.filesystem()            # pyarrow.fs.S3FileSystem
        s3.stop(); ...; s3.start()      # simulated outage, same ports and data

The server binary is <repo>/.deps/bin/weed (SeaweedFS, Apache-2.0), built by
scripts/install-s3-server.sh; the environment variable ORCHARD_S3_SERVER
overrides the path. `weed server` runs a master, a volume server, a filer and
the S3 gateway in one process; every one of their ports (HTTP and gRPC) is
chosen at random and bound on 127.0.0.1 only, and their unix sockets, logs and
data live in the server's own temporary folder (except the unix sockets of
its gRPC ports, which SeaweedFS puts at fixed /tmp/seaweedfs-*-grpc-<port>.sock
paths; close() removes them). Access and secret key are
random per server and given to SeaweedFS as a static identities file (SigV4).
Tests can run several servers in parallel; everything is removed on exit, and
the process is killed even if the test process dies (PR_SET_PDEATHSIG on Linux).

Only the standard library and pyarrow are needed.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import json
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
DEFAULT_BINARY = REPO_ROOT / ".deps" / "bin" / "weed"
INSTALLER = "scripts/install-s3-server.sh"
BINARY_ENV = "ORCHARD_S3_SERVER"
REGION = "us-east-1"

# How long start() waits for the server to answer before giving up. SeaweedFS
# is normally ready in 2-5 s (the volume server must register with the master
# before the first write); the margin is for a loaded 2-core CI machine.
START_TIMEOUT_S = 90.0
# SIGTERM makes `weed server` drain its HTTP and gRPC servers for up to 15 s (its
# own timeout, spent waiting on idle client connections and internal streams).
# stop() waits this long, then SIGKILLs: acknowledged data is on disk either way
# (volume files and the filer's LevelDB log), see test_stop_start_keeps_port_and_data.
STOP_TIMEOUT_S = 3.0

# The ports of one `weed server`: every one is chosen explicitly, so that no
# default (8333, 9333, port+10000 for gRPC, ...) can collide or leave loopback.
_PORT_NAMES = ("s3", "s3_grpc", "master", "master_grpc", "volume", "volume_grpc",
               "filer", "filer_grpc")


class S3ServerError(RuntimeError):
    """The server could not be started (message includes the log tail)."""


class S3ServerNotInstalled(S3ServerError):
    """The server binary is missing."""


def find_binary() -> Path:
    """Path of the SeaweedFS binary, or S3ServerNotInstalled with what to run."""
    path = Path(os.environ.get(BINARY_ENV) or DEFAULT_BINARY)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise S3ServerNotInstalled(
            f"S3 server binary (SeaweedFS `weed`) not found at {path}. "
            f"Run {INSTALLER} (builds it into {DEFAULT_BINARY}), "
            f"or point {BINARY_ENV} at a weed binary."
        )
    return path


def _free_loopback_ports(count: int) -> list[int]:
    # The ports are free now; the server binds them a moment later. A rare race
    # with another process is handled by start() retrying with new ports.
    # All sockets are held open together so that the ports are distinct.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _random_key(length: int) -> str:
    # Letters and digits only: safe in env vars, URLs and command lines alike.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def other_key(key: str) -> str:
    """A key of the same length and alphabet that is never `key` (its first character
    changed). A fixed replacement character would equal the real key's first character
    once in 62 servers, and the "wrong" key would then be the right one."""
    return ("y" if key[0] != "y" else "z") + key[1:]


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
    """A SeaweedFS S3 server on 127.0.0.1 with a private data folder and random keys."""

    def __init__(self, binary: str | os.PathLike | None = None,
                 identities: list[dict] | None = None, policies: list[dict] | None = None):
        """`identities` are added to the administrator's (SeaweedFS identity objects:
        name, credentials, actions and/or policyNames); `policies` are the IAM policy
        documents they name ({"name": ..., "content": "<policy JSON>"}), which SeaweedFS
        evaluates like AWS IAM (Resource ARNs, Conditions such as s3:prefix)."""
        self.binary = Path(binary) if binary else find_binary()
        self._extra_identities = list(identities or [])
        self._policies = list(policies or [])
        self.access_key = _random_key(20)
        self.secret_key = _random_key(40)
        self.port: int | None = None
        self.ports: dict[str, int] = {}
        self.root = Path(tempfile.mkdtemp(prefix="orchard-s3-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self._config_path = self.root / "s3-identities.json"
        self._proc: subprocess.Popen | None = None
        self._closed = False
        for d in (self.data_dir, self.root / "home", self.root / "tmp"):
            d.mkdir()
        self._write_identities()
        # Safety net for callers that skip the context manager or close().
        atexit.register(self.close)

    def _write_identities(self) -> None:
        # One identity with our keys and every action, plus the caller's; no anonymous
        # identity, so unsigned or wrongly signed requests are refused.
        config = {"identities": [{
            "name": "orchard-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }] + self._extra_identities}
        if self._policies:
            config["policies"] = self._policies
        fd = os.open(self._config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)

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
        """Starts the server; after stop(), on the same ports, keys and data."""
        if self._closed:
            raise S3ServerError("S3Server is closed")
        if self.running:
            return
        if self.port is not None:
            self._start()  # a restart keeps its ports, no retry
            return
        # First start: choose ports; retry if someone else grabbed one meanwhile.
        for attempt in range(3):
            self.ports = dict(zip(_PORT_NAMES, _free_loopback_ports(len(_PORT_NAMES))))
            self.port = self.ports["s3"]
            try:
                self._start()
                return
            except S3ServerError as e:
                if attempt == 2 or "address already in use" not in str(e).lower():
                    self.port = None
                    self.ports = {}
                    raise

    def stop(self, kill: bool = False) -> None:
        """Stops the server (SIGTERM, or SIGKILL with kill=True); data is kept.

        After SIGTERM the server gets STOP_TIMEOUT_S to exit, then it is killed.
        """
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
            self._remove_grpc_sockets()
            atexit.unregister(self.close)

    def _remove_grpc_sockets(self) -> None:
        # `weed server` also serves each gRPC port on a unix socket whose path is
        # fixed to /tmp/seaweedfs-<service>-grpc-<port>.sock (TMPDIR is ignored).
        for service in ("master", "volume", "filer", "s3"):
            port = self.ports.get(f"{service}_grpc")
            if port:
                try:
                    os.unlink(f"/tmp/seaweedfs-{service}-grpc-{port}.sock")
                except OSError:
                    pass

    def _command(self) -> list[str]:
        p = self.ports
        return [
            str(self.binary),
            "-logtostderr=true",  # glog: to our log file, not to files in TMPDIR
            "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",
            # Small volumes: many buckets (one collection each) fit on the disk.
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=200",
            # Stop at once on SIGTERM (the default waits 10 s for clients to leave).
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            # No Iceberg / Lance catalog listeners (they would take fixed ports).
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-s3.config={self._config_path}",
        ]

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WEED_", "AWS_"))}
        env.update(
            # SeaweedFS reads master.toml etc. from ., $HOME/.seaweedfs and
            # /etc/seaweedfs; HOME and the working folder are ours (empty).
            HOME=str(self.root / "home"),
            TMPDIR=str(self.root / "tmp"),
            # Grow one volume at a time per collection (default 7): every bucket
            # is a collection, and 7 volumes each would soon use up -volume.max.
            WEED_MASTER_VOLUME_GROWTH_COPY_1="1",
        )
        cmd = self._command()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting S3 endpoint "
                      f"127.0.0.1:{self.port}: {' '.join(cmd)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd, env=env, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop(kill=True)
            raise

    def _wait_ready(self) -> None:
        # 1. The S3 gateway answers its health probe once HTTP is up.
        # 2. An authenticated S3 request (bucket listing) succeeds once the
        #    gateway has reached the filer.
        # 3. Requests with a wrong secret key or an unknown access key are refused:
        #    the identities are loaded and enforced.
        # 4. A small write and read through the filer (outside /buckets, so no
        #    S3 client ever sees it) succeeds once the volume server has
        #    registered with the master: before that, writes fail with
        #    "no free volumes" and reads of existing objects cannot be located.
        deadline = time.monotonic() + START_TIMEOUT_S
        probe = f"http://127.0.0.1:{self.ports['filer']}/.orchard-ready/probe"
        stage = 0
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self._error(f"SeaweedFS exited with status {self._proc.returncode}")
            try:
                if stage == 0:
                    with _DIRECT.open(self.health_url, timeout=2) as r:
                        if r.status == 200:
                            stage = 1
                if stage == 1:
                    fs = self.filesystem(connect_timeout=2, request_timeout=5)
                    fs.get_file_info(pafs.FileSelector("", recursive=False))
                    stage = 2
                if stage == 2:
                    # Authentication must be enforced before anything relies on it: a
                    # gateway that has not loaded its identities yet serves anyone.
                    refused, why = self.refuses_wrong_keys()
                    if not refused:
                        last = why
                        time.sleep(0.2)
                        continue
                    stage = 3
                if stage == 3:
                    body = secrets.token_hex(8).encode()
                    put = urllib.request.Request(probe, data=body, method="PUT")
                    with _DIRECT.open(put, timeout=5) as r:
                        r.read()
                    with _DIRECT.open(probe, timeout=5) as r:
                        if r.read() == body:
                            return
                    last = "filer probe read back other data"
            except (urllib.error.URLError, OSError) as e:
                last = str(e)
            time.sleep(0.2)
        raise self._error(
            f"SeaweedFS did not become ready within {START_TIMEOUT_S:.0f} s "
            f"(stage {stage}: {last})")

    def refuses_wrong_keys(self) -> tuple[bool, str]:
        """(True, "") when requests signed with a wrong secret key, and with an unknown
        access key, are both refused; else (False, what was accepted)."""
        wrong = {"wrong secret key": dict(secret_key=other_key(self.secret_key)),
                 "unknown access key": dict(access_key=other_key(self.access_key))}
        for what, overrides in wrong.items():
            fs = self.filesystem(connect_timeout=2, request_timeout=5, **overrides)
            try:
                fs.get_file_info(pafs.FileSelector("", recursive=False))
            except OSError as e:
                # AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, in the SDK's
                # spellings (ACCESS_DENIED, INVALID_ACCESS_KEY_ID, ...).
                text = str(e).upper().replace("_", "")
                if any(w in text for w in ("ACCESSDENIED", "SIGNATURE", "INVALIDACCESSKEY",
                                            "FORBIDDEN", "403")):
                    continue
                return False, f"{what}: not refused for want of credentials ({e})"
            return False, f"a request with a {what} was accepted"
        return True, ""

    def assert_auth_enforced(self) -> None:
        """For tests about credentials: proves, right before they rely on it, that this
        server refuses wrong keys (a server that accepts them would make such a test pass
        or fail by accident)."""
        refused, why = self.refuses_wrong_keys()
        if not refused:
            raise self._error(f"the S3 server does not enforce authentication: {why}")

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

    @property
    def health_url(self) -> str:
        """Unauthenticated liveness probe of the S3 gateway."""
        return f"{self.endpoint}/healthz"

    def env(self, access_key: str | None = None,
            secret_key: str | None = None) -> dict[str, str]:
        """Environment for a process (e.g. orchard) that should use this server; with
        the administrator's keys unless others (an identity's) are given."""
        return {
            "AWS_ACCESS_KEY_ID": access_key or self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
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


def list_files(fs, base):
    """Relative paths of all files under `base` of a pyarrow filesystem (recursively),
    sorted; empty when `base` is absent."""
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return sorted(i.path[len(base) + 1:] for i in infos if i.type == pafs.FileType.File)


def download_dir(fs, base, dest):
    """Copies every file under `base` of a pyarrow filesystem to the local folder `dest`."""
    for rel in list_files(fs, base):
        target = Path(dest) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(f"{base}/{rel}") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return Path(dest)
