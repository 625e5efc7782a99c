"""Run by scripts/check-wheel.sh with the Python of a fresh venv that has only the wheel
and its dependencies installed, from a folder outside the source tree: the reference
photos must get the reference top-1 class and features from the installed orchard."""
import hashlib
import json
import pathlib
import ssl
import sys

import numpy as np

import orchard


def main(reference_dir):
    reference_dir = pathlib.Path(reference_dir)
    assert "site-packages" in orchard.__file__, f"not the installed wheel: {orchard.__file__}"
    model = pathlib.Path(orchard.default_model_path())
    assert "site-packages" in str(model), f"not the wheel's model: {model}"
    reference = json.loads((reference_dir / "reference_outputs.json").read_text())["outputs"]
    names = sorted(reference)
    images = [(reference_dir / name).read_bytes() for name in names]
    logits_embedder = orchard.Embedder(model.read_bytes(), output_name="logits", threads=2,
                                       expected_sha256=orchard.DEFAULT_MODEL_SHA256)
    logits, ok, errors = logits_embedder.embed(images)
    assert errors == [] and list(ok) == list(range(len(names))), errors
    features, _, _ = orchard.Embedder(model.read_bytes(), threads=2).embed(images)
    worst = 0.0
    for row, name in enumerate(names):
        expected = reference[name]["top5"][0]
        top1 = int(np.argmax(logits[row]))
        assert top1 == expected["index"], f"{name}: top-1 {top1}, expected {expected}"
        difference = np.abs(features[row] - np.asarray(reference[name]["features"])).max()
        assert difference < 1e-4, f"{name}: features differ by {difference}"
        worst = max(worst, float(difference))
        print(f"  {name}: top-1 {top1} ({expected['label']})")
    # Broken input is an error row from the installed decoder too, not a crash.
    _, ok, errors = logits_embedder.embed([images[0][:1000], b"GIF89a" + bytes(100), images[0]])
    assert list(ok) == [2] and [stage for _, stage, _ in errors] == ["decode", "decode"], errors
    # The OpenSSL linked into the module is private: Python's own ssl/hashlib still work.
    ssl.create_default_context()
    assert hashlib.sha256(b"orchard").hexdigest().startswith("6856")
    print(f"check-wheel: {len(names)} photos, top-1 as the reference, features within {worst:.2g}")


if __name__ == "__main__":
    main(sys.argv[1])
