"""`pixelsmith data check`: a tiny fake data root and a manifest made of it by the same code
that makes the shipped one, then damage it one way at a time."""

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixelsmith.cli import app
from pixelsmith.data import check as C
from pixelsmith.data import manifest as M
from pixelsmith.errors import PixelsmithError

REPO = Path(__file__).resolve().parents[1]
ALL_SETS = ("mnist", "fashion-mnist", "cifar10", "train400", "bsd432",
            "Set12", "BSD68", "CBSD68", "Kodak24", "Set5", "Set14")
MANIFEST_LIMIT = 600_000  # bytes: the package is a few MB, the manifest must stay small


@pytest.fixture
def fake(tmp_path):
    """(data root, manifest path) with four small sets, one of each kind."""
    root = tmp_path / "data"
    files = {
        **{f"MNIST/raw/{n}.gz": gzip.compress(n.encode() * 50, mtime=0)
           for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
        # numbered names (packed compactly), and one class folder whose names are not
        **{f"cifar10/train/airplane/{i:05d}.png": bytes([i]) * 40 for i in (1, 4, 7, 100)},
        **{f"cifar10/train/bird/{i:05d}.png": bytes([i]) * 41 for i in (2, 3)},
        **{f"cifar10/train/cat/{n}.png": n.encode() * 9 for n in ("a", "b")},
        "restoration/testsets/Set12/01.png": b"one" * 30,
        "restoration/testsets/Set12/02.png": b"two" * 30,
        "restoration/train400/test_001.png": b"t400" * 30,
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(M.build_manifest(root, progress=False)))
    return root, manifest


def check(root, manifest, sets=None):
    report = C.check_data_root(root, sets, manifest, progress=False)
    return report, {s.name: s for s in report.sets}


def cli(root, manifest, *args):
    return CliRunner().invoke(app, ["data", "check", str(root), "--manifest", str(manifest),
                                    *args])


def flip_byte(path: Path, at: int = 5) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_all_good_is_ok_and_exits_0(fake):
    root, manifest = fake
    report, by = check(root, manifest)
    assert set(by) == {"mnist", "cifar10", "Set12", "train400"}
    assert all(s.status == "present" and s.ok == s.expected for s in report.sets)
    assert by["cifar10"].expected == 8 and report.exit_code == 0
    res = cli(root, manifest)
    assert res.exit_code == 0, res.output
    assert "4 set(s) complete and identical" in res.output and "(from the ROOT argument)" in \
        res.output


def test_deleted_file_is_named(fake):
    root, manifest = fake
    (root / "cifar10/train/bird/00003.png").unlink()
    (root / "restoration/testsets/Set12/01.png").unlink()
    shutil.rmtree(root / "cifar10/train/cat")
    _, by = check(root, manifest)
    assert by["cifar10"].status == "incomplete"
    assert by["cifar10"].missing == ["cifar10/train/bird/00003.png", "cifar10/train/cat/a.png",
                                     "cifar10/train/cat/b.png"]
    assert by["cifar10"].missing_dirs == {"cifar10/train/cat": 2}
    assert by["Set12"].missing == ["restoration/testsets/Set12/01.png"]
    assert by["Set12"].ok == 1 and by["Set12"].expected == 2
    res = cli(root, manifest)
    assert res.exit_code == 1
    assert "missing  cifar10/train/bird/00003.png" in res.output
    assert "missing  cifar10/train/cat/ (all 2 files)" in res.output
    assert "missing  restoration/testsets/Set12/01.png" in res.output


@pytest.mark.parametrize("rel, name", [
    ("restoration/testsets/Set12/02.png", "Set12"),  # full SHA-256 per file
    ("cifar10/train/airplane/00100.png", "cifar10"),  # packed: named by its digest prefix
    ("cifar10/train/cat/b.png", "cifar10"),  # packed with a list of names
    ("MNIST/raw/t10k-labels-idx1-ubyte.gz", "mnist"),
])
def test_altered_file_is_named(fake, rel, name):
    root, manifest = fake
    flip_byte(root / rel)
    _, by = check(root, manifest)
    assert by[name].status == "altered" and by[name].altered == [rel]
    assert by[name].ok == by[name].expected - 1
    res = cli(root, manifest)
    assert res.exit_code == 1 and f"altered  {rel}" in res.output


def test_extra_files_are_tolerated(fake):
    root, manifest = fake
    (root / "cifar10/train/airplane/00009.png").write_bytes(b"new")
    (root / "restoration/testsets/Set12/readme.txt").write_text("mine")
    report, by = check(root, manifest)
    assert by["cifar10"].status == "present" and by["cifar10"].extra == 1
    assert by["Set12"].extra == 1 and report.exit_code == 0
    res = cli(root, manifest)
    assert res.exit_code == 0 and "1 extra (fine)" in res.output


def test_absent_set_is_absent_and_fails_only_when_requested(fake):
    root, manifest = fake
    shutil.rmtree(root / "restoration/train400")
    report, by = check(root, manifest)
    assert by["train400"].status == "absent" and report.exit_code == 0
    assert cli(root, manifest).exit_code == 0
    report, by = check(root, manifest, ["Train400", "set12"])  # names in any case
    assert list(by) == ["train400", "Set12"] and report.exit_code == 1
    res = cli(root, manifest, "--sets", "train400")
    assert res.exit_code == 1 and "requested but not there" in res.output


def test_unpacked_mnist_counts_and_is_verified(fake):
    root, manifest = fake
    gz = root / "MNIST/raw/train-images-idx3-ubyte.gz"
    unpacked = gz.with_suffix("")
    unpacked.write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    _, by = check(root, manifest)
    assert by["mnist"].status == "present" and by["mnist"].extra == 0
    assert by["mnist"].check == "sha256"
    flip_byte(unpacked)
    _, by = check(root, manifest)
    assert by["mnist"].altered == ["MNIST/raw/train-images-idx3-ubyte"]


def test_folder_digest_catches_what_prefixes_miss(fake):
    root, manifest = fake
    data = json.loads(manifest.read_text())
    data["sets"]["cifar10"]["packed"]["cifar10/train/bird"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(data))
    _, by = check(root, manifest)
    assert by["cifar10"].status == "altered" and by["cifar10"].altered == ["cifar10/train/bird/"]
    assert by["cifar10"].ok == 6


def test_torchvision_cifar_batches_are_checked_by_md5(fake):
    root, manifest = fake
    batches = root / "cifar-10-batches-py"
    batches.mkdir()
    (batches / "data_batch_1").write_bytes(b"not the real batch")
    (batches / "readme.html").write_text("extra")
    report, _ = check(root, manifest)
    folder, tv = (s for s in report.sets if s.name == "cifar10")  # both layouts, each reported
    assert folder.folder == "cifar10/train" and folder.status == "present"
    assert tv.folder == "cifar-10-batches-py" and tv.check == "md5 (torchvision)"
    assert tv.status == "altered" and tv.altered == ["cifar-10-batches-py/data_batch_1"]
    assert len(tv.missing) == 6 and tv.extra == 1 and report.exit_code == 1
    res = cli(root, manifest)
    assert "cifar10 (cifar-10-batches-py)" in res.output and "1 set(s) not as" in res.output


def test_nonexistent_root_is_a_one_line_error(tmp_path):
    missing = tmp_path / "no-such-data"
    proc = subprocess.run([sys.executable, "-m", "pixelsmith", "data", "check", str(missing)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: data root {missing} does not exist"
    (tmp_path / "file").write_text("x")
    with pytest.raises(PixelsmithError, match="is a file, not a folder"):
        C.check_data_root(tmp_path / "file")


def test_bad_manifest_and_set_names_are_one_line_errors(fake, tmp_path):
    root, manifest = fake
    for text in ("{not json", json.dumps({"format": "other"})):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(PixelsmithError, match="bad.json") as e:
            C.check_data_root(root, manifest=tmp_path / "bad.json")
        assert "\n" not in str(e.value)
    with pytest.raises(PixelsmithError, match="cannot read the data manifest .*absent.json"):
        C.check_data_root(root, manifest=tmp_path / "absent.json")
    with pytest.raises(PixelsmithError, match="unknown data set 'cifar100'"):
        C.check_data_root(root, ["cifar100"], manifest)


def test_compact_names_round_trip():
    for values in ([0], [5, 1, 31, 32, 1023, 1024, 50_000], []):
        assert M._unvlq(M._vlq(values)) == values
    for names in (["00029.png", "00030.png", "49994.png"], ["0.png", "7.png", "10.png"],
                  ["7.png", "07.png"], ["1.png", "2.jpg"], ["a.png"]):
        pairs = {n: f"{i:064x}" for i, n in enumerate(names)}
        assert M.unpack_group(M.pack_group(pairs), M.PREFIX_BYTES) == {
            n: pairs[n][: 2 * M.PREFIX_BYTES] for n in names}


def test_make_data_manifest_script_writes_what_the_library_builds(fake, tmp_path):
    root, manifest = fake
    out = tmp_path / "written.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench/make_data_manifest.py"),
                           "--data-root", str(root), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == json.loads(manifest.read_text())


def test_shipped_manifest_names_every_set_and_is_small():
    assert M.MANIFEST.stat().st_size < MANIFEST_LIMIT
    manifest = M.load_manifest()
    assert tuple(manifest["sets"]) == ALL_SETS
    from pixelsmith.metrics.restoration_protocol import TEST_SETS  # the benchmark's list

    assert set(TEST_SETS) <= set(manifest["sets"])
    assert sum(g["count"] for g in manifest["sets"]["cifar10"]["packed"].values()) == 50_000
    assert manifest["sets"]["mnist"]["torchvision"] == "MNIST"


def test_real_small_sets_match_the_shipped_manifest(shared_data):
    report = C.check_data_root(shared_data, ["Set12", "Set5", "train400", "mnist"])
    assert [(s.name, s.status, s.ok) for s in report.sets] == [
        ("Set12", "present", 12), ("Set5", "present", 5), ("train400", "present", 400),
        ("mnist", "present", 4)]
    assert report.sets[-1].check == "sha256, md5 (torchvision)" and report.exit_code == 0
