"""An input under an S3 prefix is read with one listing and one GET per image, and nothing
else (issue 22, findings 1 and 5).

An instance role scoped like deploy/aws's (s3:ListBucket on the bucket, s3:GetObject on
`input/*` only) is refused a HeadObject on the key `input` itself, which the listing used
to start with. The server here is a few lines of S3 on loopback that answer exactly what
such a role may do (HeadBucket, ListObjectsV2, GetObject) and refuse every HeadObject with
403, and that count the requests. (SeaweedFS, which tests/integration/s3server.py starts,
does not scope identities to a prefix the way IAM does; the requests it serves are not
counted either.)
"""
import http.server
import threading
import urllib.parse
from xml.sax.saxutils import escape

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_orchard

BUCKET = "orchard"


class ScopedS3(http.server.ThreadingHTTPServer):
    """Objects in memory; the requests seen as (method, key, query)."""

    daemon_threads = True

    def __init__(self, objects):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.objects = objects
        self.requests = []
        self.lock = threading.Lock()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _parse(self):
        url = urllib.parse.urlsplit(self.path)
        bucket, _, key = urllib.parse.unquote(url.path).lstrip("/").partition("/")
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        with self.server.lock:
            self.server.requests.append((self.command, key, sorted(query)))
        return bucket, key, query

    def _reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        bucket, key, _ = self._parse()
        if bucket == BUCKET and not key:
            self._reply(200)  # HeadBucket: s3:ListBucket on the bucket
        else:
            self._reply(403)  # HeadObject: refused, as to the scoped role on "input"

    def do_GET(self):
        bucket, key, query = self._parse()
        if bucket != BUCKET:
            return self._reply(404)
        if not key and query.get("list-type") == ["2"]:
            prefix = query.get("prefix", [""])[0]
            contents = "".join(
                f"<Contents><Key>{escape(name)}</Key>"
                "<LastModified>2024-01-01T00:00:00.000Z</LastModified>"
                f"<ETag>\"{len(data)}\"</ETag><Size>{len(data)}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
                for name, data in sorted(self.server.objects.items()) if name.startswith(prefix))
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    f"<Name>{BUCKET}</Name><Prefix>{escape(prefix)}</Prefix>"
                    f"<KeyCount>{contents.count('<Contents>')}</KeyCount><MaxKeys>1000</MaxKeys>"
                    f"<IsTruncated>false</IsTruncated>{contents}</ListBucketResult>").encode()
            return self._reply(200, body, [("Content-Type", "application/xml")])
        data = self.server.objects.get(key)
        if data is None:
            return self._reply(404)
        first, last = 0, len(data) - 1
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start, _, end = ranged[len("bytes="):].partition("-")
            first, last = int(start), min(int(end or last), len(data) - 1)
        self._reply(206 if ranged else 200, data[first:last + 1],
                    [("Content-Range", f"bytes {first}-{last}/{len(data)}"),
                     ("ETag", f"\"{len(data)}\""), ("Content-Type", "application/octet-stream"),
                     ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")])


@pytest.fixture
def scoped_s3():
    objects = {}
    for label in sorted(SAMPLE.iterdir()):
        for image in sorted(label.iterdir())[:3]:
            objects[f"input/{label.name}/{image.name}"] = image.read_bytes()
    server = ScopedS3(objects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_an_s3_input_needs_only_a_listing_and_one_get_per_image(scoped_s3, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "scoped", "AWS_SECRET_ACCESS_KEY": "scoped-secret",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{scoped_s3.server_address[1]}",
           "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    out = tmp_path / "out"
    run_orchard("featurize", "-i", f"s3://{BUCKET}/input", "-o", out, env=env, timeout=300)
    paths = pq.read_table(out / "features").column("path").to_pylist()
    assert sorted(paths) == sorted(key[len("input/"):] for key in scoped_s3.objects)
    assert pq.read_table(out / "errors").num_rows == 0
    head_objects = [request for request in scoped_s3.requests if request[0] == "HEAD" and request[1]]
    assert head_objects == []
    object_gets = [request for request in scoped_s3.requests if request[0] == "GET" and request[1]]
    assert sorted(key for _, key, _ in object_gets) == sorted(scoped_s3.objects)


def test_an_empty_prefix_is_reported_as_missing_although_head_is_refused(scoped_s3, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": "scoped", "AWS_SECRET_ACCESS_KEY": "scoped-secret",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{scoped_s3.server_address[1]}",
           "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    proc = run_orchard("featurize", "-i", f"s3://{BUCKET}/nothing-here", "-o", tmp_path / "out",
                       env=env, check=False, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert f"s3://{BUCKET}/nothing-here" in proc.stderr and "does not exist" in proc.stderr
