"""The parallel S3 prefix listing (io/s3.cc, ListObjectTree) against a real S3 server
(SeaweedFS on loopback): whatever ORCHARD_S3_LIST_CONCURRENCY says, the listing is the
one sequential walk's (same keys, order, sizes and mtimes, hidden names skipped); a
sub-prefix whose listing is refused fails the listing naming that prefix; a role whose
s3:ListBucket is limited by an s3:prefix condition ("input/*", as deploy/aws's tighter
variant) lists in parallel. The listing is called through orchard._native.list_images, the
Spark driver's (and the CLI's) listing. The tree holds what the splitting must get right:
keys directly below the root, folder markers of empty and non-empty prefixes, hidden and
bookkeeping names at several depths, names that are prefixes of each other, odd bytes
(spaces, %, +, query characters, UTF-8), deep nesting, a label of more keys than a page
(a paged delimiter listing) and a label of more one-key folders than a page (walked whole).
"""
import concurrent.futures
import json

import pyarrow.fs as pafs
import pytest

import orchard
from s3server import S3Server, S3ServerNotInstalled, _random_key, find_binary

BUCKET = "listing"
ROOT = "in"


def tree_keys():
    """(keys to upload, folder markers to create) below ROOT."""
    # (No key "in/a" beside "in/a/...": SeaweedFS, a file system, cannot hold both; the
    # unit test s3_listing_test.cc has that case.)
    keys = [f"{ROOT}/top.jpg", f"{ROOT}/a/1.jpg", f"{ROOT}/ab/1.jpg",
            f"{ROOT}/a b/1.jpg", f"{ROOT}/a.b/1.jpg", f"{ROOT}/a/sub dir/2.jpg",
            f"{ROOT}/a/_SUCCESS", f"{ROOT}/a/.DS_Store", f"{ROOT}/a/x/_temporary/0/p.jpg",
            f"{ROOT}/_hidden/1.jpg", f"{ROOT}/.dot/1.jpg", f"{ROOT}/marked/m.jpg",
            f"{ROOT}/100%/50% off.jpg", f"{ROOT}/c+d/e+f.jpg", f"{ROOT}/q?x=1&y=2/h#1.jpg",
            f"{ROOT}/Äpfel Braeburn/r 1.jpg", f"{ROOT}/caf\u00e9/\u65e5\u672c.jpg",
            f"{ROOT}/tilde~/*star*.jpg", f"{ROOT}-sibling/not-below.jpg", "inner.jpg"]
    deep = f"{ROOT}/deep"
    for level in range(12):
        deep += f"/d{level}"
        keys.append(f"{deep}/f{level}.jpg")
    keys += [f"{ROOT}/many/{idx:05d}.jpg" for idx in range(1500)]       # 2 delimiter pages
    keys += [f"{ROOT}/wide/{idx:05d}/i.jpg" for idx in range(1100)]     # 1,100 sub-prefixes
    markers = [f"{ROOT}/empty", f"{ROOT}/marked", f"{ROOT}/a/empty sub"]
    return keys, markers


def expected_listing(keys):
    """What the listing must give: keys below ROOT/, relative, without any component
    starting with '.' or '_', sorted (bytes order, as the UTF-8 keys sort in S3)."""
    relative = [k[len(ROOT) + 1:] for k in keys if k.startswith(ROOT + "/")]
    kept = [r for r in relative if not any(c[:1] in (".", "_") for c in r.split("/"))]
    return sorted(kept, key=lambda r: r.encode())


def prefix_policy(name, patterns):
    return {"name": name, "content": json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "ListSomePrefixes", "Effect": "Allow", "Action": ["s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{BUCKET}"],
        "Condition": {"StringLike": {"s3:prefix": patterns}}}]})}


@pytest.fixture(scope="module")
def s3_tree():
    try:
        find_binary()
    except S3ServerNotInstalled as error:
        pytest.fail(str(error), pytrace=False)
    keys = {"scoped": (_random_key(20), _random_key(40)),
            "not-wide": (_random_key(20), _random_key(40))}
    identities = [{"name": name, "credentials": [{"accessKey": a, "secretKey": s}],
                   "policyNames": [f"{name}-policy"]} for name, (a, s) in keys.items()]
    # "scoped": the role's tighter variant, ListBucket on s3:prefix "in/*" only (the root's
    # own listing passes "in/", a sub-prefix's "in/a/"). "not-wide": every prefix below
    # the root but in/wide/ may be listed: the one walk (prefix "in/") may, a parallel
    # listing of in/wide/ is refused.
    uploaded, markers = tree_keys()
    top_folders = {k[len(ROOT) + 1:].split("/")[0] for k in uploaded + [m + "/" for m in markers]
                   if k.startswith(ROOT + "/") and "/" in k[len(ROOT) + 1:]}
    assert "wide" in top_folders
    policies = [prefix_policy("scoped-policy", [f"{ROOT}/*"]),
                prefix_policy("not-wide-policy", [f"{ROOT}/"] + [
                    f"{ROOT}/{folder}/*" for folder in sorted(top_folders - {"wide"})])]
    with S3Server(identities=identities, policies=policies) as s3:
        s3.make_bucket(BUCKET)
        fs = s3.filesystem()

        def put(key):
            with fs.open_output_stream(f"{BUCKET}/{key}") as out:
                out.write(key.encode()[: 1 + len(key) % 7])  # sizes that differ

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(put, uploaded))
        for marker in markers:
            fs.create_dir(f"{BUCKET}/{marker}")
        yield s3, keys, uploaded


def listing(monkeypatch, s3, concurrency, credentials=None):
    """orchard's listing of s3://BUCKET/ROOT: [(relative path, size, mtime_ns)]."""
    for name, value in s3.env(*(credentials or (None, None))).items():
        monkeypatch.setenv(name, value)
    if concurrency is None:
        monkeypatch.delenv("ORCHARD_S3_LIST_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("ORCHARD_S3_LIST_CONCURRENCY", str(concurrency))
    return [(bytes(source).decode(), size, mtime)
            for source, size, mtime in orchard._native.list_images(f"s3://{BUCKET}/{ROOT}", "", "")]


def test_every_concurrency_lists_what_the_one_walk_lists(s3_tree, monkeypatch):
    s3, _, uploaded = s3_tree
    one_walk = listing(monkeypatch, s3, 1)
    assert [path for path, _, _ in one_walk] == expected_listing(uploaded)
    # Sizes and mtimes are the server's: the ones pyarrow's own listing reports.
    infos = s3.filesystem().get_file_info(pafs.FileSelector(f"{BUCKET}/{ROOT}", recursive=True))
    by_path = {i.path[len(BUCKET) + len(ROOT) + 2:]: i for i in infos if i.is_file}
    for path, size, mtime in one_walk:
        assert size == by_path[path].size, path
        assert mtime == by_path[path].mtime_ns, path
    for concurrency in (None, 2, 3, 32, 256):  # None: the default (32)
        assert listing(monkeypatch, s3, concurrency) == one_walk, concurrency


def test_a_role_scoped_by_s3_prefix_lists_in_parallel(s3_tree, monkeypatch):
    s3, keys, uploaded = s3_tree
    scoped = listing(monkeypatch, s3, None, keys["scoped"])
    assert [path for path, _, _ in scoped] == expected_listing(uploaded)
    assert scoped == listing(monkeypatch, s3, 1)


def test_a_refused_sub_prefix_fails_the_listing_naming_it(s3_tree, monkeypatch):
    s3, keys, uploaded = s3_tree
    # The policy is real: the one walk (prefix "in/") is allowed.
    assert [p for p, _, _ in listing(monkeypatch, s3, 1, keys["not-wide"])] == \
        expected_listing(uploaded)
    for concurrency in (None, 2, 32):
        with pytest.raises(orchard._native.OrchardError) as error:
            listing(monkeypatch, s3, concurrency, keys["not-wide"])
        message = str(error.value)
        assert "ACCESS_DENIED" in message and "ListObjectsV2" in message, message
        # Arrow names the prefix, and the IAM explanation the action and the prefix.
        assert f"under key '{ROOT}/wide/'" in message, message
        assert f"needs s3:ListBucket on arn:aws:s3:::{BUCKET} (prefix '{ROOT}/wide/')" in message


def test_a_bad_concurrency_is_refused_before_any_request(s3_tree, monkeypatch):
    s3, _, _ = s3_tree
    for bad in ("0", "lots", "100000"):
        with pytest.raises(orchard._native.OrchardError, match="ORCHARD_S3_LIST_CONCURRENCY"):
            listing(monkeypatch, s3, bad)
