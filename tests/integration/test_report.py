"""report/index.html of CLI runs, rendered in headless Chromium.

Chromium opens the page from disk with networking off; the test fails on any console
error (a CSP violation, a script error) and checks that the figures are in the rendered
DOM. A screenshot of the sample's report is kept under the build folder
(artifacts/report-sample.png) for CI to publish and for people to look at.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import REPO, SAMPLE, run_orchard

LABELS = ["Apple Braeburn", "Mango", "Tomato Cherry Red"]
HOSTILE_LABEL = "<script>alert('x')"
ARTIFACTS = pathlib.Path(os.environ.get("ORCHARD_BUILD_DIR", REPO / "build")) / "artifacts"


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium not found: run scripts/setup-test-tools.sh", pytrace=False)


def chromium(page, tmp_path, *args):
    """Runs headless Chromium on a local page; returns (stdout, stderr)."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    command = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args, page.as_uri()]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180,
                          errors="replace")
    assert proc.returncode == 0, f"chromium exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout, proc.stderr


def console_errors(stderr):
    """Console messages of the page (Chromium logs them as CONSOLE lines) and CSP refusals."""
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Refused to" in line or "Uncaught" in line]


def render(page, tmp_path):
    """The DOM Chromium built from the page, after checking that the console stayed quiet."""
    dom, stderr = chromium(page, tmp_path, "--dump-dom")
    assert console_errors(stderr) == [], stderr[-3000:]
    assert "<html" in dom
    return dom


def screenshot(page, tmp_path, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    _, stderr = chromium(page, tmp_path, f"--screenshot={target}", "--window-size=1280,2400",
                         "--hide-scrollbars")
    assert console_errors(stderr) == [], stderr[-3000:]
    assert target.exists() and target.stat().st_size > 20_000, stderr[-3000:]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return target


def test_console_check_catches_script_errors_and_csp_refusals(tmp_path):
    """The console check below is not vacuous: it sees what a broken page logs."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                    "content=\"default-src 'none'\"/></head><body><img src=\"x.png\"/>"
                    "<p>text</p></body></html>")
    _, stderr = chromium(page, tmp_path, "--dump-dom")
    assert any("Content Security Policy" in line for line in console_errors(stderr)), stderr


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    run_orchard("run", "--input", SAMPLE, "--output", out, "--batch-size", 16)
    return out


def test_sample_report_renders_every_figure(sample_run, tmp_path):
    page = sample_run / "report" / "index.html"
    assert page.exists()
    # The files other tools read are still there.
    assert (sample_run / "report" / "summary.json").exists()
    assert (sample_run / "report" / "scree.svg").exists()
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    dom = render(page, tmp_path)
    for section in ("run", "pca", "classes", "errors"):
        assert f'id="{section}"' in dom
    assert dom.count("<svg") == 3  # scree, PCA scatter, images per class
    assert "Cumulative explained variance" in dom
    assert "First two principal components" in dom
    assert "3 classes, 60 featurized images" in dom
    assert "All 60 images shown" in dom
    assert dom.count("<circle") >= 60
    for label in LABELS:
        assert label in dom
    assert "No image failed" in dom
    assert re.search(r"model sha256</th><td[^>]*>[0-9a-f]{64}<", dom)
    assert ">CLI, " in dom
    screenshot(page, tmp_path, "report-sample.png")


def test_hostile_names_and_errors_render_safely(tmp_path):
    images = tmp_path / "images"
    shutil.copytree(SAMPLE / "Mango", images / HOSTILE_LABEL)
    shutil.copytree(SAMPLE / "Apple Braeburn", images / "Apple Braeburn")
    # A folder name that is not UTF-8, and files that fail to decode.
    odd = os.path.join(os.fsencode(images), b"caf\xe9 \xff")
    shutil.copytree(os.fsencode(SAMPLE / "Tomato Cherry Red"), odd)
    (images / "Apple Braeburn" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg " * 50)
    (images / "Apple Braeburn" / "<b>bold<i>.png").write_bytes(b"<script>alert(1)</script>")
    out = tmp_path / "out"
    run_orchard("run", "--input", images, "--output", out, "--batch-size", 16)
    page = out / "report" / "index.html"
    dom = render(page, tmp_path)
    assert "<script" not in dom
    assert "<b>bold" not in dom
    assert "&lt;script&gt;alert('x')" in dom
    assert "2 images failed" in dom
    assert "&lt;b&gt;bold&lt;i&gt;.png" in dom
    assert dom.count("<svg") == 3
    screenshot(page, tmp_path, "report-hostile.png")


def test_each_step_rewrites_the_report(tmp_path):
    """featurize, fit-pca and project each leave a report of the whole output as it stands."""
    out = tmp_path / "out"
    page = out / "report" / "index.html"
    run_orchard("featurize", "--input", SAMPLE, "--output", out, "--batch-size", 16)
    dom = render(page, tmp_path)
    assert 'id="pca"' not in dom
    assert "3 classes, 60 featurized images" in dom
    assert dom.count("<svg") == 1
    # fit-pca stages only the model and the report: the classes come from the published
    # features table, and there is no pca table to plot yet.
    run_orchard("fit-pca", "--output", out)
    dom = render(page, tmp_path)
    assert "Cumulative explained variance" in dom
    assert "3 classes, 60 featurized images" in dom
    assert "First two principal components" not in dom
    assert dom.count("<svg") == 2
    run_orchard("project", "--output", out)
    dom = render(page, tmp_path)
    assert "First two principal components" in dom and "All 60 images shown" in dom
    assert dom.count("<svg") == 3


def test_python_extension_renders_an_output_with_predict_metrics(sample_run, tmp_path):
    """The same report from Python (what the Spark driver calls), with synthetic metrics."""
    native = pytest.importorskip("orchard._native")
    if not hasattr(native, "write_html_report"):
        pytest.skip("this build of orchard._native does not bind the report yet")
    metrics = {
        "accuracy": 0.9, "top5_accuracy": 1.0, "n": 60, "classes": LABELS,
        "per_class": [{"class": label, "precision": 0.9, "recall": recall, "f1": 0.9,
                       "support": 20} for label, recall in zip(LABELS, [1.0, 0.75, 0.95])],
        "confusion_matrix": [[20, 0, 0], [4, 15, 1], [0, 1, 19]],
    }
    metrics_path = tmp_path / "metrics.json"
    metrics_path.write_text(json.dumps(metrics))
    page = tmp_path / "predict" / "index.html"
    native.write_html_report(str(sample_run), metrics_uri=str(metrics_path),
                             target_uri=str(page))
    dom = render(page, tmp_path)
    assert 'id="predict"' in dom
    assert "90.00 %" in dom and "Worst confusions" in dom
    assert dom.count("<svg") == 5  # recall, confusion matrix, scree, scatter, classes
    screenshot(page, tmp_path, "report-predict.png")
    with pytest.raises(native.OrchardError):
        native.write_html_report(str(sample_run), target_uri="/proc/no/such/index.html")
