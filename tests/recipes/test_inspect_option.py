"""``tinynet train ... --inspect EVERY`` writes the instruments' pictures and
records into the run directory beside curves.png."""
import json
import subprocess
import sys


def test_inspect_writes_pictures_and_records(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "tinynet.cli", "train", "mlp", "--epochs", "1", "--quiet",
         "--inspect", "5", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    pictures = sorted(p.name for p in (out / "inspect").glob("*.png"))
    assert pictures == ["activations.png", "gradients.png", "saturation.png",
                        "update_ratio.png"]
    for name in pictures:
        data = (out / "inspect" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
    records = json.loads((out / "inspect" / "records.json").read_text())
    assert len(records) >= 2 and all(r["step"] % 5 == 0 for r in records)
    assert (out / "curves.png").exists()


def test_inspect_every_is_range_checked(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tinynet.cli", "train", "mlp", "--inspect", "0",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True)
    assert proc.returncode == 2 and "--inspect" in proc.stderr
