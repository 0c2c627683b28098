"""The GPT benchmarks: the gpt_step workload of benchmarks/run.py agrees with
the same architecture in PyTorch, and benchmarks/gpt_vs_lstm.py trains the
two seeds taking turns and reports them. No timing is judged here."""
import os
import sys

import numpy as np

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)          # the benchmark scripts are not a package

import gpt_vs_lstm  # noqa: E402
import run as bench  # noqa: E402
import workloads  # noqa: E402


def test_gpt_step_agrees_with_pytorch():
    chk = bench._check_child("gpt_step")
    assert "error" not in chk
    assert chk["max_rel_diff"] <= bench.TOLERANCE.get("gpt_step", 1e-4), chk
    assert "loss" in chk["compared"] and "grad wte.weight" in chk["compared"]
    assert sum(k.startswith("grad h.") for k in chk["compared"]) == 4 * 12
    assert workloads.build("gpt_step", "tinynet").flops > 0


def test_gpt_step_check_fails_on_a_wrong_model(monkeypatch):
    import tinynet.nn.functional as F
    real = F.scaled_dot_product_attention
    # a plausible bug: attention that forgets the causal mask
    monkeypatch.setattr(F, "scaled_dot_product_attention",
                        lambda q, k, v, **kw: real(q, k, v, is_causal=False))
    chk = bench._check_child("gpt_step")
    assert chk["max_rel_diff"] > 1e-2


def test_settings_words():
    assert gpt_vs_lstm.settings("n_embd=96 lr=2e-3 optimizer=adam") == \
        {"n_embd": 96, "lr": 2e-3, "optimizer": "adam"}
    assert gpt_vs_lstm.settings("") == {}


def test_pair_of_runs_table_and_chart(tmp_path):
    tiny = {"max_chars": 6000, "time_budget": 1.0, "epochs": 1000, "eval_every": 5,
            "sample_every": 0, "sample_chars": 8, "quiet": True, "seq_len": 16,
            "batch_size": 4}
    configs = [{**tiny, "hidden_size": 8, "num_layers": 1},
               {**tiny, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16}]
    runs = gpt_vs_lstm.train_pair(("lstm", "gpt"), configs, str(tmp_path))
    for model, r in zip(("lstm", "gpt"), runs):
        rows = r["rows"]
        assert rows and rows[-1]["seconds"] >= 1.0, model
        assert all(np.isfinite(x["val_loss"]) for x in rows)
        assert [x["step"] for x in rows] == sorted(x["step"] for x in rows)
        assert r["params"] > 0 and isinstance(r["sample"], str)
        r.update(model=model, seed=0)
    text = gpt_vs_lstm.table(runs, [0.5])
    assert "| 1 | lstm |" in text and "| 2 | gpt |" in text and "mean final held-out loss" in text
    png = tmp_path / "curves.png"
    gpt_vs_lstm.chart(runs, str(png), 1.0)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
