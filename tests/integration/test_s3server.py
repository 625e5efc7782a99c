"""Tests of the S3 test fixture (s3server.S3Server) against the real SeaweedFS server.

These fail, not skip, when the server binary is missing: an S3 suite that silently
does nothing would hide a broken setup. Build it with scripts/install-s3-server.sh.
"""

import ipaddress
import os
import socket
import subprocess
import sys
import urllib.request

import pyarrow.fs as pafs
import pytest

from s3server import S3Server, S3ServerNotInstalled, find_binary, other_key


def _new_server() -> S3Server:
    try:
        find_binary()
    except S3ServerNotInstalled as e:
        pytest.fail(str(e), pytrace=False)
    return S3Server()


@pytest.fixture(scope="module")
def s3():
    """One server shared by the read-only-ish tests of this module."""
    with _new_server() as server:
        yield server


def _listing(fs, base):
    """{key relative to base: size} of all files under base, recursively."""
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    return {i.path[len(base) + 1:]: i.size for i in infos if i.type == pafs.FileType.File}


def _port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_missing_binary_message(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCHARD_S3_SERVER", str(tmp_path / "no-such-weed"))
    with pytest.raises(S3ServerNotInstalled, match="scripts/install-s3-server.sh"):
        S3Server()


def test_endpoint_and_env(s3):
    assert s3.endpoint == f"http://127.0.0.1:{s3.port}"
    env = s3.env()
    assert env["AWS_ACCESS_KEY_ID"] == s3.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == s3.secret_key
    assert env["AWS_ENDPOINT_URL"] == s3.endpoint
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert len(s3.access_key) >= 16 and len(s3.secret_key) >= 32


def _listening_sockets(pid):
    """(ip, port) of the TCP sockets that process pid listens on (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state == "0A" and inode in inodes:  # 0A: LISTEN
                    addr, port = local.split(":")
                    # The address is hex of 32-bit words in host (little-endian) order.
                    raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1]
                                   for i in range(0, len(addr), 8))
                    found.append((ipaddress.ip_address(raw), int(port, 16)))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_listens_on_loopback_only(s3):
    # `weed server` runs master, volume server, filer and S3 gateway (HTTP and
    # gRPC each): only the ports the fixture chose, only on loopback, no wildcard
    # address and no default port (Iceberg / Lance catalogs, metrics, ...).
    sockets = _listening_sockets(s3._proc.pid)
    assert (ipaddress.ip_address("127.0.0.1"), s3.port) in sockets
    assert s3.port == s3.ports["s3"]
    chosen = set(s3.ports.values())
    assert all(ip.is_loopback and port in chosen for ip, port in sockets), (sockets, s3.ports)
    assert _port_open(s3.port)


def test_upload_list_and_read_back_non_ascii(s3, tmp_path):
    src = tmp_path / "src"
    files = {
        "Äpfel Braeburn/ä b.jpg": b"\xff\xd8\xff\xe0 fake jpeg \x00\x01",
        "Äpfel Braeburn/plain.jpg": os.urandom(70_000),
        "Birnen/Conférence/ß 日本.png": b"\x89PNG\r\n\x1a\n",
        "top level.txt": b"hello",
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)

    s3.make_bucket("fruit")
    keys = s3.upload_dir(src, "fruit", "in/images")
    assert keys == sorted(f"in/images/{rel}" for rel in files)

    fs = s3.filesystem()
    listed = _listing(fs, "fruit/in/images")
    assert listed == {rel: len(data) for rel, data in files.items()}
    for rel, data in files.items():
        with fs.open_input_stream(f"fruit/in/images/{rel}") as f:
            assert f.read() == data


def test_pagination_beyond_1000_keys(s3, tmp_path):
    # ListObjectsV2 returns at most 1000 keys a page: 1,500 needs two pages.
    src = tmp_path / "many"
    src.mkdir()
    for i in range(1500):
        (src / f"obj-{i:05d}.bin").write_bytes(i.to_bytes(4, "little"))
    s3.make_bucket("many")
    s3.upload_dir(src, "many", "p")
    listed = _listing(s3.filesystem(), "many/p")
    assert len(listed) == 1500
    assert set(listed) == {f"obj-{i:05d}.bin" for i in range(1500)}


def test_env_is_enough_for_an_s3_uri(s3):
    # What orchard itself gets: only the environment and an s3:// URI.
    # Note: Arrow's URI parser rejects a raw space; it must be written %20.
    s3.make_bucket("envcheck")
    with s3.filesystem().open_output_stream("envcheck/a b/x.txt") as f:
        f.write(b"via env")
    code = (
        "import pyarrow.fs as fs\n"
        "f, path = fs.FileSystem.from_uri('s3://envcheck/a%20b/x.txt')\n"
        "assert path == 'envcheck/a b/x.txt', path\n"
        "print(f.open_input_stream(path).read().decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(s3.env())
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "via env"


def test_wrong_credentials_are_refused(s3):
    s3.make_bucket("secret")
    with s3.filesystem().open_output_stream("secret/x") as f:
        f.write(b"x")
    for bad in (s3.filesystem(secret_key="wrong" + s3.secret_key[5:]),
                s3.filesystem(access_key="NOSUCHUSER123456789")):
        with pytest.raises(OSError, match=r"(?i)access.?denied|signaturedoesnotmatch|invalidaccesskeyid"):
            bad.get_file_info("secret/x")


def test_stop_start_keeps_port_and_data():
    with _new_server() as s3:
        port, endpoint = s3.port, s3.endpoint
        s3.make_bucket("keep")
        with s3.filesystem().open_output_stream("keep/Äpfel/x.bin") as f:
            f.write(b"persisted")

        s3.stop()
        assert not s3.running and not _port_open(port)
        down = s3.filesystem(connect_timeout=1, request_timeout=2,
                             retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
        with pytest.raises(OSError):
            down.get_file_info("keep/Äpfel/x.bin")

        s3.start()
        assert s3.running and (s3.port, s3.endpoint) == (port, endpoint)
        with s3.filesystem().open_input_stream("keep/Äpfel/x.bin") as f:
            assert f.read() == b"persisted"

        # A hard kill (crash) followed by a restart keeps acknowledged data too.
        s3.stop(kill=True)
        s3.start()
        assert _listing(s3.filesystem(), "keep") == {"Äpfel/x.bin": len(b"persisted")}


def test_close_kills_server_and_removes_temp_dir():
    s3 = _new_server()
    with s3:
        pid, root, port = s3._proc.pid, s3.root, s3.port
        assert root.is_dir()
        grpc_ports = {v for k, v in s3.ports.items() if k.endswith("_grpc")}
    assert not root.exists()
    # SeaweedFS's gRPC unix sockets live at fixed /tmp paths: removed too.
    left = [p for p in os.listdir("/tmp")
            if p.startswith("seaweedfs-") and p.endswith(".sock")
            and int(p.rsplit("-", 1)[1].split(".")[0]) in grpc_ports]
    assert left == []
    assert not _port_open(port)
    # The process is gone (reaped), not merely detached.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_log_file_and_liveness(s3):
    assert f"127.0.0.1:{s3.port}" in s3.log_path.read_text(errors="replace")
    # The unauthenticated liveness probe answers (proxies bypassed: loopback).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(s3.health_url, timeout=5) as r:
        assert r.status == 200


def test_other_key_always_differs():
    # The "wrong" keys of the auth checks: a fixed first character ("y" + key[1:]) was the
    # real key once in 62 servers, and a test then saw its wrong key accepted.
    for key in ("yAbc", "zAbc", "xAbc", "y", "z"):
        assert other_key(key) != key and len(other_key(key)) == len(key)
