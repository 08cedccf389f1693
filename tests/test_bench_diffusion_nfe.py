"""bench/diffusion_nfe.py's report mode: rows gathered over several interrupted sweeps are
merged (the last repeat wins), tabled, checked for "20 steps within 10 % of 100" and
plotted, without sampling anything."""

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "diffusion_nfe.py"


@pytest.fixture(scope="module")
def nfe_bench():
    spec = importlib.util.spec_from_file_location("diffusion_nfe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(model, sampler, nfe, fid, num=2000):
    return {"model": model, "sampler": sampler, "steps": nfe, "nfe": nfe, "num": num,
            "seconds": 1.0,
            "fid": fid, "kid": fid / 100, "precision": 0.7, "recall": 0.8}


def test_report_merges_rows_checks_the_ten_percent_rule_and_plots(nfe_bench, tmp_path, capsys):
    rows = tmp_path / "nfe.jsonl"
    lines = [_row("diffusion", "dpm-solver-2m", 20, 9.0),  # replaced by the repeat below
             _row("diffusion", "dpm-solver-2m", 100, 2.5),
             _row("diffusion", "ddim", 20, 4.0), _row("diffusion", "ddim", 100, 3.0),
             _row("diffusion", "dpm-solver-2m", 20, 2.6),
             {**_row("diffusion", "dpm-solver-2m", 20, 2.7), "dtype": "bf16"},  # its own row
             {**_row("dcgan (runs/x)", "-", 1, 0.7), "steps": "-"}]
    rows.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    plot = tmp_path / "fid.png"
    nfe_bench.main(["unused-run", "--from-json", str(rows), "--plot", str(plot)])
    text = capsys.readouterr().out
    assert f"`bench/diffusion_nfe.py unused-run --from-json {rows} --plot {plot}`" in text
    table = [ln for ln in text.splitlines() if ln.startswith("| diffusion")]
    assert len(table) == 5  # six diffusion rows, one repeat
    assert "| diffusion | dpm-solver-2m | 20 | 20 | 2000 | 2.6 | 0.026 | 0.7 | 0.8 | 1 |" in text
    assert "| diffusion | dpm-solver-2m (bf16) | 20 | 20 | 2000 | 2.7 |" in text
    # 2.6 / 2.5 - 1 = +4.0 %; 4.0 / 3.0 - 1 = +33.3 %
    assert "dpm-solver-2m: FID at NFE 20 is +4.0 % of NFE 100's (within 10 %)" in text
    assert "ddim: FID at NFE 20 is +33.3 % of NFE 100's (outside 10 %)" in text
    assert "| dcgan (runs/x) | - | - | 1 | 2000 | 0.7 |" in text
    with Image.open(plot) as im:
        assert im.size[0] > 300 and im.size[1] > 200


def test_report_names_a_bad_row(nfe_bench, tmp_path):
    rows = tmp_path / "nfe.jsonl"
    rows.write_text(json.dumps(_row("diffusion", "ddim", 20, 3.0)) + "\n{not json\n")
    with pytest.raises(SystemExit, match=f"{rows}:2: not a JSON row"):
        nfe_bench.main(["unused-run", "--from-json", str(rows)])
    with pytest.raises(SystemExit, match="none.jsonl: no such file"):
        nfe_bench.main(["unused-run", "--from-json", str(tmp_path / "none.jsonl")])


def test_report_refuses_to_table_two_sample_counts(nfe_bench, tmp_path, capsys):
    """FID at 2,000 and at 10,000 samples are not comparable: one file, one count."""
    rows = tmp_path / "nfe.jsonl"
    rows.write_text(json.dumps(_row("diffusion", "ddim", 20, 3.0)) + "\n"
                    + json.dumps(_row("diffusion", "ddim", 50, 2.0, num=10000)) + "\n")
    with pytest.raises(SystemExit, match="rows of 2000 and 10000 samples"):
        nfe_bench.main(["unused-run", "--from-json", str(rows)])
    # a row that does not record its count takes --num's
    old = {k: v for k, v in _row("diffusion", "ddim", 20, 3.0).items() if k != "num"}
    rows.write_text(json.dumps(old) + "\n" + json.dumps(_row("diffusion", "ddim", 50, 2.0)) + "\n")
    with pytest.raises(SystemExit, match="rows of 2000 and 10000 samples"):
        nfe_bench.main(["unused-run", "--from-json", str(rows)])  # --num's default: 10000
    nfe_bench.main(["unused-run", "--from-json", str(rows), "--num", "2000"])
    assert "| diffusion | ddim | 20 | 20 | 2000 | 3 |" in capsys.readouterr().out


def test_markdown_table_formats_floats_and_keeps_counts(nfe_bench):
    import numpy as np

    text = nfe_bench.markdown_table(["model", "samples", "FID"],
                                    [["a", 10000, np.float32(2.123456)], ["b", 2000, 0.70018]])
    assert text.splitlines() == ["| model | samples | FID |", "|---|---|---|",
                                 "| a | 10000 | 2.123 |", "| b | 2000 | 0.7002 |"]


def test_compared_runs_are_labelled_by_their_folder(nfe_bench):
    # an SNGAN's network is "resnet": its run folder says which model the line is
    assert nfe_bench.run_label({"model": "resnet (runs/sngan-fmnist-cpu)"}) == "sngan-fmnist-cpu"
    assert nfe_bench.run_label({"model": "dcgan (/tmp/a b/dcgan-x)"}) == "dcgan-x"
    assert nfe_bench.run_label({"model": "diffusion"}) == "diffusion"
    ckpt = "dcgan (runs/dcgan-x/checkpoints/step_0007000)"
    assert nfe_bench.run_label({"model": ckpt}) == "dcgan-x step_0007000"
    assert nfe_bench.run_label({"model": "vae (.)"}) == Path.cwd().name
    packaged = {"model": "dcgan (packaged dcgan-fashion-mnist)"}
    assert nfe_bench.run_label(packaged) == "dcgan-fashion-mnist (packaged)"


def test_a_run_or_a_packaged_model_one_of_the_two(nfe_bench):
    for argv in ([], ["runs/x", "--model", "ddpm-fashion-mnist"]):
        with pytest.raises(SystemExit, match="give a run folder or --model NAME"):
            nfe_bench.main(argv)
    with pytest.raises(SystemExit, match="no packaged model named 'no-such-model'"):
        nfe_bench.main(["--model", "no-such-model", "--num", "8"])
    with pytest.raises(SystemExit, match="--compare no-such-run: no such run folder, and no "
                       "packaged model named 'no-such-run'"):
        nfe_bench.main(["--model", "ddpm-fashion-mnist", "--samplers", "", "--compare",
                        "no-such-run", "--num", "8"])
