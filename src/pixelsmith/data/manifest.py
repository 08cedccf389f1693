"""The manifest of the known copies of the standard data sets: ``build_manifest`` is what
``bench/make_data_manifest.py`` runs on a verified copy to write ``known_data.json`` (shipped
beside this file); ``check.py`` checks a data root against it. Every file is hashed with
SHA-256, read in chunks.

Manifest format (JSON; paths relative to the data root, always with ``/``)::

    {"format": "pixelsmith-data-manifest", "version": 1, "prefix_bytes": 3,
     "sets": {"<set>": {
        "folders": ["MNIST/raw"],              # the set owns these; other files there are extras
        "files": {"<dir>": {"<name>": "<sha256>"}},               # full SHA-256 of each file
        "unpacked": {"<dir>": {"<name>.gz": "<sha256 of the gunzipped bytes>"}},   # optional
        "torchvision": "MNIST",                # optional: the .gz files match the md5 sums of
                                               # torchvision.datasets.<this>, checked as well
        "packed": {"<dir>": {                  # a class folder of many small files (CIFAR-10)
            "count": 5000,
            "sha256": "<sha256 of the lines '<name> <sha256>\\n', names in sorted order>",
            "names": ["a.png", ...] | {"ext": ".png", "width": 5, "numbers": "<VLQ>"},
            "prefixes": "<base64 of the first prefix_bytes bytes of each file's SHA-256>"}}}}}

``packed`` keeps the manifest small (50,000 full digests would be 3.3 MB): the folder digest
verifies every byte at full strength, and the short per-file prefixes only say WHICH file
differs. Names like ``00029.png`` (``<integer><ext>``, zero-padded to ``width`` digits, or 0
for no padding) are stored as ascending integers, each as its difference from the one before
in base64 VLQ digits (5 bits per character, lowest first; 32 in a digit means more digits
follow, as in JavaScript source maps). Prefix ``i`` belongs to name ``i`` in that (numeric)
order, or in the order of the ``names`` list.

An ``.gz`` file with an ``unpacked`` digest may be present gunzipped beside itself instead
(torchvision unpacks MNIST there and reads the unpacked files): either form counts, and every
form present is verified. A CIFAR-10 that torchvision downloaded (``cifar-10-batches-py/``)
is not in the manifest; it is checked against the md5 sums torchvision publishes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import string
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pixelsmith.errors import PixelsmithError

FORMAT, VERSION = "pixelsmith-data-manifest", 1
PREFIX_BYTES = 3  # 24 bits: only names an altered file; the folder digest does the verifying
MANIFEST = Path(__file__).with_name("known_data.json")
PROGRESS_MIN_FILES = 300  # below this a progress bar is only flicker
_CHUNK = 1 << 20
_TESTSETS = ("Set12", "BSD68", "CBSD68", "Kodak24", "Set5", "Set14")


@dataclass(frozen=True)
class SetSpec:
    folders: tuple[str, ...]
    packed: bool = False  # class folders of many small files, stored as folder digests
    torchvision: str | None = None  # torchvision.datasets class of the same .gz files


# the layouts the loaders read (torchvision_sets.py, restoration_sets.py, restoration_protocol)
KNOWN_SETS: dict[str, SetSpec] = {
    "mnist": SetSpec(("MNIST/raw",), torchvision="MNIST"),
    "fashion-mnist": SetSpec(("FashionMNIST/raw",), torchvision="FashionMNIST"),
    "cifar10": SetSpec(("cifar10/train",), packed=True),
    "train400": SetSpec(("restoration/train400",)),
    "bsd432": SetSpec(("restoration/bsds",)),
    **{name: SetSpec((f"restoration/testsets/{name}",)) for name in _TESTSETS},
}
# other layouts of a set that only torchvision's md5 sums describe: set -> (folder, class)
TORCHVISION_LAYOUTS = {"cifar10": ("cifar-10-batches-py", "CIFAR10")}


# ---- hashing -----------------------------------------------------------------------------

def _digest(path: Path, md5: bool = False) -> dict[str, str] | str:
    """{'sha256': hex[, 'md5': hex]}, or why the file could not be read."""
    hashes = {"sha256": hashlib.sha256()}
    if md5:
        hashes["md5"] = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            while block := f.read(_CHUNK):
                for h in hashes.values():
                    h.update(block)
    except OSError as e:
        return f"unreadable: {e.strerror or e}"
    return {k: h.hexdigest() for k, h in hashes.items()}


def hash_files(root: Path, jobs: dict[str, bool], progress: bool,
                desc: str = "hashing data files") -> dict[str, dict[str, str] | str]:
    """Digests of ``{relative path: want md5}``, on threads (reads and hashlib release the GIL),
    with a progress bar when there are many files."""
    items = sorted(jobs.items())
    groups = [items[i : i + 64] for i in range(0, len(items), 64)]  # a future per file costs
    bar = task = None
    if progress and len(items) > PROGRESS_MIN_FILES:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(console=Console(stderr=True), transient=True)
        task = bar.add_task(desc, total=len(items))
        bar.start()
    out: dict[str, dict[str, str] | str] = {}
    try:
        with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
            for done in pool.map(lambda g: [(r, _digest(root / r, m)) for r, m in g], groups):
                out.update(done)
                if bar is not None:
                    bar.advance(task, len(done))
    finally:
        if bar is not None:
            bar.stop()
    return out


def _gunzipped_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def torchvision_md5(cls_name: str) -> dict[str, str] | None:
    """{file name: md5} as torchvision publishes them, or None without torchvision."""
    try:
        from torchvision import datasets
    except ImportError:
        return None
    cls = getattr(datasets, cls_name)
    if hasattr(cls, "resources"):  # MNIST-like: (file name or URL, md5)
        return {url.rsplit("/", 1)[-1]: md5 for url, md5 in cls.resources}
    return {n: m for n, m in [*cls.train_list, *cls.test_list,
                              (cls.meta["filename"], cls.meta["md5"])]}


# ---- compact names and prefixes ----------------------------------------------------------

_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64)}
_NUMBERED = re.compile(r"([0-9]+)(\.[^/]*)")


def _vlq(values: list[int]) -> str:
    out = []
    for v in values:
        while v >= 32:
            out.append(_B64[32 | (v & 31)])
            v >>= 5
        out.append(_B64[v])
    return "".join(out)


def _unvlq(text: str) -> list[int]:
    values, v, shift = [], 0, 0
    for ch in text:
        d = _B64_VALUE[ch]
        v |= (d & 31) << shift
        if d & 32:
            shift += 5
        else:
            values.append(v)
            v = shift = 0
    return values


def group_sha256(pairs: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{n} {pairs[n]}\n" for n in sorted(pairs)).encode()).hexdigest()


def pack_group(pairs: dict[str, str]) -> dict:
    """A class folder's entry from {name: sha256}."""
    matches = [_NUMBERED.fullmatch(n) for n in pairs]
    order = names = sorted(pairs)
    if matches and all(matches):  # "<digits><ext>", all zero-padded to one width or none
        ext, widths = {m.group(2) for m in matches}, {len(m.group(1)) for m in matches}
        width = widths.pop() if len(widths) == 1 else 0
        numbers = sorted(int(m.group(1)) for m in matches)
        numbered = [f"{k:0{width}d}{next(iter(ext))}" for k in numbers]
        if len(ext) == 1 and set(numbered) == set(pairs):  # else the names do not round-trip
            order, names = numbered, {"ext": ext.pop(), "width": width, "numbers": _vlq(
                [b - a for a, b in zip([0, *numbers[:-1]], numbers)])}
    prefixes = b"".join(bytes.fromhex(pairs[n])[:PREFIX_BYTES] for n in order)
    return {"count": len(order), "sha256": group_sha256(pairs), "names": names,
            "prefixes": base64.b64encode(prefixes).decode("ascii")}


def unpack_group(entry: dict, prefix_bytes: int) -> dict[str, str]:
    """{name: hex prefix of its sha256} of a packed class folder, in stored order."""
    names = entry["names"]
    if isinstance(names, dict):
        numbers, total = [], 0
        for step in _unvlq(names["numbers"]):
            total += step
            numbers.append(total)
        names = [f"{k:0{names['width']}d}{names['ext']}" for k in numbers]
    raw = base64.b64decode(entry["prefixes"], validate=True)
    if len(names) != entry["count"] or len(raw) != len(names) * prefix_bytes:
        raise ValueError(f"{len(names)} names, {len(raw) // prefix_bytes} prefixes, "
                         f"count {entry['count']}")
    return {n: raw[i * prefix_bytes : (i + 1) * prefix_bytes].hex() for i, n in enumerate(names)}


# ---- the manifest ------------------------------------------------------------------------

def existing_root(root: Path, origin: str = "") -> Path:
    where = f" ({origin})" if origin else ""
    if not root.exists():
        raise PixelsmithError(f"data root {root} does not exist{where}")
    if not root.is_dir():
        raise PixelsmithError(f"data root {root} is a file, not a folder{where}")
    return root


def scan_files(root: Path, folders: tuple[str, ...] | list[str]) -> set[str]:
    """Relative paths of the files under ``folders``, at any depth."""
    found = set()
    for folder in folders:
        for dirpath, _, files in os.walk(root / folder, followlinks=True):
            rel = Path(dirpath).relative_to(root).as_posix()
            found.update(f"{rel}/{f}" for f in files)
    return found


def _by_dir(paths: dict[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for rel in sorted(paths):
        d, name = rel.rsplit("/", 1)
        out.setdefault(d, {})[name] = paths[rel]
    return out


def build_manifest(root: str | os.PathLike, sets: list[str] | None = None,
                   progress: bool = True) -> dict:
    """The manifest of the known sets found under ``root`` (a verified copy)."""
    root = existing_root(Path(root).expanduser())
    out: dict = {"format": FORMAT, "version": VERSION, "prefix_bytes": PREFIX_BYTES, "sets": {}}
    for name, spec in KNOWN_SETS.items():
        files = scan_files(root, spec.folders)
        if (sets is not None and name not in sets) or not files:
            continue
        digests = hash_files(root, dict.fromkeys(files, True), progress, f"hashing {name}")
        for rel, d in digests.items():
            if isinstance(d, str):
                raise PixelsmithError(f"cannot read {root / rel} ({d})")
        sha = {rel: d["sha256"] for rel, d in digests.items()}
        entry: dict = {"folders": list(spec.folders)}
        if spec.packed:
            entry["packed"] = {d: pack_group(p) for d, p in _by_dir(sha).items()}
        elif spec.torchvision:  # the unpacked twin of a .gz is covered by its "unpacked" digest
            gz = [r for r in sha if r.endswith(".gz")]
            entry["files"] = _by_dir({r: h for r, h in sha.items() if f"{r}.gz" not in files})
            entry["unpacked"] = _by_dir({r: _gunzipped_sha256(root / r) for r in gz})
            md5 = torchvision_md5(spec.torchvision) or {}
            if gz and all(md5.get(r.rsplit("/", 1)[1]) == digests[r]["md5"] for r in gz):
                entry["torchvision"] = spec.torchvision
        else:
            entry["files"] = _by_dir(sha)
        out["sets"][name] = entry
    return out


def load_manifest(path: str | os.PathLike | None = None) -> dict:
    path = Path(path) if path is not None else MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PixelsmithError(f"cannot read the data manifest {path} "
                              f"({getattr(e, 'strerror', None) or e})") from None
    if (not isinstance(manifest, dict) or manifest.get("format") != FORMAT
            or manifest.get("version") != VERSION or not isinstance(manifest.get("sets"), dict)):
        raise PixelsmithError(f"{path} is not a pixelsmith data manifest (format {FORMAT}, "
                              f"version {VERSION})")
    manifest["_path"] = str(path)
    return manifest
