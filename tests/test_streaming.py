"""Streaming training data (data/streaming.py) on real packed shards: ranks x workers cover
the set once per epoch, the order does not depend on the workers, resume is exact (in the
source, through the trainer, and under 2 real ranks), closing a source leaves no thread or
worker process, a corrupt shard met while streaming is named, a folder streams with its
unreadable files skipped, and evaluation takes only the first pictures of a streamed set."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pixelsmith.config import load_config
from pixelsmith.data import packed
from pixelsmith.data.batches import make_batches
from pixelsmith.data.streaming import StreamBatches, _Feeder
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics import evaluate
from pixelsmith.training import Trainer
from test_distributed import config_args, torchrun
from test_packed import make_folder

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def pack_dir(tmp_path_factory) -> Path:
    """37 distinct pictures (a folder with one corrupt file) in shards of 5: 8 shards."""
    tmp = tmp_path_factory.mktemp("stream")
    folder = make_folder(tmp / "pics", per_class=37 // 2 + 1)
    next(iter((folder / "dog").glob("*.png"))).unlink()  # 37 readable, odd on purpose
    packed.pack(str(folder), tmp / "packed", size=8, shard_size=5, progress=False)
    return tmp / "packed"


def data_args(root: Path, *extra: str) -> list[str]:
    return ["data.name=packed", f"data.root={root}", "data.img_size=8", "data.img_channels=3",
            "data.stream=true", *extra]


OPENED: list[StreamBatches] = []


@pytest.fixture(autouse=True)
def close_sources():
    """Every source a test opens is closed after it: no feeder or workers left running."""
    yield
    while OPENED:
        OPENED.pop().close()


def source(root: Path, batch: int, shard=(0, 1), workers=0, buffer=12, seed=5):
    cfg = load_config(None, data_args(root, f"data.workers={workers}",
                                      f"data.shuffle_buffer={buffer}")).data
    s = make_batches(cfg, batch_size=batch, seed=seed, device=CPU, shard=shard)
    assert isinstance(s, StreamBatches)
    OPENED.append(s)
    return s


def running() -> tuple[set, set]:
    """Feeder threads alive and worker processes (children) alive."""
    return ({t for t in threading.enumerate() if isinstance(t, _Feeder)},
            set(multiprocessing.active_children()))


def ids(x: torch.Tensor) -> list[str]:
    """One name per picture: its pixels' hash (every picture in the set is distinct)."""
    return [hashlib.sha1(((img + 1) * 127.5).round().byte().numpy().tobytes()).hexdigest()[:10]
            for img in x]


def draw(src, steps: int) -> list[str]:
    return [i for _ in range(steps) for i in ids(src.next().x)]


def test_two_ranks_two_workers_cover_the_set_once_per_epoch(pack_dir):
    everything = set(ids(make_batches(load_config(None, data_args(pack_dir)[:-1] + [
        "data.stream=false"]).data, batch_size=37, seed=0, device=CPU).images.float()
        .div(127.5).sub(1)))
    assert len(everything) == 37
    # rank 0 has 18 slots a epoch, rank 1 19: one local image a step walks epoch by epoch
    ranks = [source(pack_dir, 2, shard=(r, 2), workers=2) for r in range(2)]
    for epoch in range(2):
        got = [draw(ranks[0], 18), draw(ranks[1], 19)]
        assert not set(got[0]) & set(got[1])
        assert len(set(got[0])) == 18 and len(set(got[1])) == 19
        assert set(got[0]) | set(got[1]) == everything, epoch
    # one process sees the same set per epoch, and its order does not depend on the workers
    one = [draw(source(pack_dir, 1, workers=w), 74) for w in (0, 1, 2)]
    assert one[0] == one[1] == one[2]
    assert set(one[0][:37]) == set(one[0][37:]) == everything
    assert one[0][:37] != one[0][37:]  # a new order each epoch


@pytest.mark.parametrize("steps", [3, 4], ids=["mid-window", "window-end"])
def test_resume_mid_epoch_is_exact_in_the_source(pack_dir, steps):
    straight = source(pack_dir, 6, shard=(1, 2), workers=2)  # 3 local images a step
    draw(straight, steps)  # 9 or 12 of the rank's 19, windows of 12
    state = json.loads(json.dumps(straight.state_dict()))  # plain data, as in checkpoints
    taken = state["stream"]["taken"]
    assert state["stream"]["window"] == 0 and taken == 3 * steps
    assert 0 < taken < 12 if steps == 3 else taken == 12  # inside the window / at its end
    rest = draw(straight, 9)  # crosses windows and the epoch boundary
    again = source(pack_dir, 6, shard=(1, 2), workers=1)
    again.load_state_dict(state)
    assert draw(again, 9) == rest
    # another seed (or other shards, processes, buffer): no exact continuation; it says so
    # and starts the next epoch
    other = source(pack_dir, 6, shard=(1, 2), seed=6)
    with pytest.warns(UserWarning, match=r"seed 5 -> 6.*starting epoch 1"):
        other.load_state_dict(state)
    assert (other.epoch, other.window, other.taken) == (1, 0, 0)


def test_close_leaves_no_feeder_or_worker_and_the_source_goes_on(pack_dir):
    before = running()
    src = source(pack_dir, 4, workers=2)
    first = draw(src, 3)
    feeders, children = running()
    assert len(feeders) == len(before[0]) + 1 and len(children) == len(before[1]) + 2
    src.close()
    assert running() == before
    # the position is kept: it goes on exactly as a source never closed
    assert first + draw(src, 6) == draw(source(pack_dir, 4, workers=1), 9)


def test_trainer_resume_is_exact_on_streamed_data(pack_dir, tmp_path):
    args = [*data_args(pack_dir, "data.workers=1", "data.shuffle_buffer=16", "data.labels=true"),
            "model.name=vae", "model.z_dim=8", "model.width=8", "train.batch_size=6",
            "train.log_every=1", "train.sample_every=100", "train.checkpoint_every=3",
            "train.num_samples=4", "train.progress=false"]
    straight = tmp_path / "straight"
    before = running()
    Trainer(load_config(None, [*args, "train.steps=8"]), straight).fit()
    assert running() == before  # fit closes its streamed source
    split = tmp_path / "split"
    Trainer(load_config(None, [*args, "train.steps=3"]), split).fit()
    Trainer.resume(split, ["train.steps=8"]).fit()
    a = load_file(straight / "checkpoints" / "step_0000008" / "model.safetensors")
    b = load_file(split / "checkpoints" / "step_0000008" / "model.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_auto_keeps_small_sets_in_memory_and_corrupt_shards_are_named(pack_dir, tmp_path):
    cfg = load_config(None, data_args(pack_dir)[:-1] + ["data.stream=auto"]).data
    memory = make_batches(cfg, batch_size=4, seed=0, device=CPU)
    assert not isinstance(memory, StreamBatches)
    assert cfg.stream is False  # resolved once, saved with the run: a resume keeps the path
    # a resume on the other path says why it cannot continue, in one line
    with pytest.raises(PixelsmithError, match="saved by the streamed data path; resume with "
                       r"--set data.stream=true"):
        memory.load_state_dict(source(pack_dir, 4).state_dict())
    with pytest.raises(PixelsmithError, match="saved by the in-memory data path; resume with "
                       r"--set data.stream=false"):
        source(pack_dir, 4).load_state_dict(memory.state_dict())
    with pytest.raises(PixelsmithError, match="data.stream=true works for"):
        make_batches(load_config(None, ["data.stream=true"]).data, batch_size=4, seed=0,
                     device=CPU)
    bad = tmp_path / "bad"
    shutil.copytree(pack_dir, bad)
    m = json.loads((bad / "manifest.json").read_text())
    victim = bad / m["shards"][3]["name"]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(PixelsmithError, match=f"{victim.name} is corrupt"):
        draw(source(bad, 37, workers=2), 2)  # raised in a worker, one line in the trainer


def test_a_folder_streams_with_unreadable_files_skipped(tmp_path):
    folder = make_folder(tmp_path / "pics", per_class=5)
    cfg = load_config(None, ["data.name=image-folder", f"data.root={folder}", "data.labels=true",
                             "data.img_size=8", "data.img_channels=3", "data.stream=true",
                             "data.workers=1", "data.shuffle_buffer=4"]).data
    src = make_batches(cfg, batch_size=10, seed=0, device=CPU)
    OPENED.append(src)
    with pytest.warns(UserWarning, match="broken.png"):
        b = src.next()
    assert b.x.shape == (10, 3, 8, 8) and sorted(b.c.tolist()) == [0] * 5 + [1] * 5
    assert len(set(ids(b.x))) == 10
    # classes from subfolders: a loose file is refused as the in-memory loader refuses it
    (folder / "loose.png").write_bytes((folder / "dog" / "000.png").read_bytes())
    with pytest.raises(PixelsmithError, match=r"data.labels=true needs every image in a class "
                       r"subfolder, but 1 lie directly in .* \(loose.png\)"):
        make_batches(cfg, batch_size=10, seed=0, device=CPU)


def test_evaluation_reads_only_the_first_pictures_of_a_streamed_set(pack_dir, monkeypatch):
    """A set too large for memory is not loaded whole to be the metrics' reference: the
    first max(num, STREAMED_REFERENCE) pictures, reading only the shards they are in."""
    read = []
    real_read = packed.read_shard
    monkeypatch.setattr(packed, "read_shard", lambda folder, entry, *a: read.append(
        entry["name"]) or real_read(folder, entry, *a))
    monkeypatch.setattr(evaluate, "STREAMED_REFERENCE", 8)  # stands for 50,000
    cfg = load_config(None, data_args(pack_dir, "data.labels=true")).data
    real, ref = evaluate.reference_data(cfg, num=4)
    assert (len(real), ref, read) == (8, "packed train", ["shard-00000.tar", "shard-00001.tar"])
    assert real.labels.shape == (8,) and real.class_names == ["cat", "dog"]
    whole, _ = evaluate.reference_data(replace(cfg, stream=False))  # in memory: all of it
    assert len(whole) == 37 and torch.equal(whole.images[:8], real.images)
    assert len(evaluate.reference_data(cfg, num=12)[0]) == 12  # num above the cap: num


@pytest.mark.slow  # three 2-rank launches, ~40 s on 2 busy cores (as test_distributed's resume)
def test_resume_under_two_ranks_is_exact(pack_dir, tmp_path):
    args = [*data_args(pack_dir, "data.workers=1", "data.shuffle_buffer=8"), "model.name=vae",
            "model.z_dim=8", "model.width=8", "train.batch_size=6", "train.log_every=1",
            "train.sample_every=100", "train.checkpoint_every=2", "train.num_samples=4"]
    torchrun([*config_args(tmp_path, [*args, "train.steps=6"]), "--run-dir",
              str(tmp_path / "straight")], tmp_path)
    torchrun([*config_args(tmp_path, [*args, "train.steps=2"]), "--run-dir",
              str(tmp_path / "split")], tmp_path)
    torchrun(["--resume", str(tmp_path / "split"), "--set", "train.steps=6"], tmp_path)
    a = load_file(tmp_path / "straight" / "checkpoints" / "step_0000006" / "model.safetensors")
    b = load_file(tmp_path / "split" / "checkpoints" / "step_0000006" / "model.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k
