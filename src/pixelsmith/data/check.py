"""Check a data root against the known copies of the standard data sets: what ``pixelsmith
data check`` runs. The manifest and its format: ``manifest.py``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pixelsmith.data.manifest import (
    TORCHVISION_LAYOUTS,
    existing_root,
    group_sha256,
    hash_files,
    load_manifest,
    scan_files,
    torchvision_md5,
    unpack_group,
)
from pixelsmith.errors import PixelsmithError


@dataclass
class SetReport:
    name: str
    folder: str  # the layout checked, e.g. "cifar10/train" or "cifar-10-batches-py"
    check: str  # which check was applied
    status: str  # present | absent | incomplete | altered
    expected: int
    ok: int
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    extra: int = 0
    notes: list[str] = field(default_factory=list)
    requested: bool = False
    missing_dirs: dict[str, int] = field(default_factory=dict)  # folders missing whole: count
    default_folder: str = ""  # the manifest's layout of this set

    @property
    def failed(self) -> bool:
        return self.status in ("incomplete", "altered") or (self.requested
                                                            and self.status == "absent")


@dataclass
class DataReport:
    root: Path
    sets: list[SetReport]

    @property
    def exit_code(self) -> int:
        """0 when every present (and every requested) set is complete and identical, else 1."""
        return 1 if any(s.failed for s in self.sets) else 0


# ---- checking ----------------------------------------------------------------------------

@dataclass
class _Layout:
    folders: list[str]
    check: str  # the words for the report
    entries: dict[str, dict[str, dict[str, str]]]  # shown name -> {form path: {algo: hex}}
    groups: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # dir: (sha, names)
    prefix_bits: int = 0
    md5_too: bool = False  # torchvision's md5 of the .gz files, besides the sha256


def _manifest_layout(entry: dict, prefix_bytes: int) -> _Layout:
    unpacked = {f"{d}/{n}": h for d, fs in entry.get("unpacked", {}).items() for n, h in fs.items()}
    md5 = torchvision_md5(entry["torchvision"]) if entry.get("torchvision") else None
    layout = _Layout(list(entry["folders"]), "sha256, md5 (torchvision)" if md5 else "sha256", {},
                     md5_too=bool(md5))
    for d, files in entry.get("files", {}).items():
        for n, h in files.items():
            rel = f"{d}/{n}"
            forms = {rel: {"sha256": h, **({"md5": md5[n]} if md5 and n in md5 else {})}}
            if rel in unpacked:
                forms[rel[: -len(".gz")]] = {"sha256": unpacked[rel]}
            layout.entries[rel] = forms
    for d, group in entry.get("packed", {}).items():
        prefixes = unpack_group(group, prefix_bytes)
        layout.entries.update({f"{d}/{n}": {f"{d}/{n}": {"prefix": p}}
                               for n, p in prefixes.items()})
        layout.groups[d] = (group["sha256"], list(prefixes))
        layout.check, layout.prefix_bits = "sha256 per folder", 8 * prefix_bytes
    return layout


def _torchvision_layout(folder: str, cls_name: str) -> _Layout | None:
    md5 = torchvision_md5(cls_name)
    if md5 is None:
        return None
    return _Layout([folder], "md5 (torchvision)",
                   {f"{folder}/{n}": {f"{folder}/{n}": {"md5": m}} for n, m in md5.items()})


def _matches(got: dict[str, str] | str, want: dict[str, str]) -> bool:
    if isinstance(got, str):  # unreadable
        return False
    return all(got["sha256"].startswith(h) if algo == "prefix" else got.get(algo) == h
               for algo, h in want.items())


def _judge(name: str, layout: _Layout, present: set[str],
           digests: dict[str, dict[str, str] | str]) -> SetReport:
    missing, altered, notes, ok = [], [], [], 0
    for label, forms in layout.entries.items():
        here = [r for r in forms if r in present]
        bad = [r for r in here if not _matches(digests[r], forms[r])]
        missing += [] if here else [label]
        altered += bad
        ok += bool(here) and not bad
        notes += [f"{r}: {digests[r]}" for r in bad if isinstance(digests[r], str)]
    partial, bad_set = 0, set(altered)
    for d, (want, names) in layout.groups.items():
        rels = [f"{d}/{n}" for n in names]
        if not any(r in present for r in rels):
            continue
        if any(r in bad_set or r not in present for r in rels):
            partial += 1  # cannot be checked whole; its other files were checked by prefix
        elif group_sha256({n: digests[r]["sha256"] for n, r in zip(names, rels)}) != want:
            altered.append(f"{d}/")
            ok -= len(rels)
            notes.append(f"the digest of {d}/ differs though each file's digest prefix matches")
    if partial:
        notes.append(f"{partial} class folder(s) not complete: their other files were checked "
                     f"by a {layout.prefix_bits}-bit digest prefix only")
    known = {r for forms in layout.entries.values() for r in forms}
    extra = sum(r not in known for r in present)
    status = ("absent" if len(missing) == len(layout.entries) else "altered" if altered
              else "incomplete" if missing else "present")
    applied = {a for forms in layout.entries.values() for r, w in forms.items() if r in present
               for a in w}
    check = "sha256" if layout.md5_too and "md5" not in applied else layout.check
    return SetReport(name, ", ".join(layout.folders), check, status,
                     len(layout.entries), ok, missing, altered, extra, notes,
                     missing_dirs=_whole_dirs(list(layout.entries), set(missing)))


def _whole_dirs(expected: list[str], missing: set[str]) -> dict[str, int]:
    """Folders none of whose expected files is there: {folder: number of files}, so that a
    missing class folder reads as one line, not 5,000."""
    count: dict[str, list[int]] = {}
    for rel in expected:
        c = count.setdefault(rel.rsplit("/", 1)[0], [0, 0])
        c[0] += 1
        c[1] += rel in missing
    return {d: n for d, (n, gone) in count.items() if n == gone and n > 1}


def check_data_root(root: str | os.PathLike | None = None, sets: list[str] | None = None,
                    manifest: str | os.PathLike | None = None,
                    progress: bool = True) -> DataReport:
    """Check the data root (by the rule of ``roots.data_root``) against the manifest.

    ``sets`` picks set names (any case); those are ``requested``: absent counts as failed.
    """
    from pixelsmith.data.roots import data_root, data_root_origin

    given = root is not None and str(root) != ""
    path = existing_root(data_root(root), "" if given else f"from {data_root_origin(None)}")
    man = load_manifest(manifest)
    known = {n.lower(): n for n in man["sets"]}
    for s in sets if sets is not None else ():
        if s.lower() not in known:
            raise PixelsmithError(f"unknown data set '{s}'; known: {', '.join(man['sets'])}")
    if sets is not None and not sets:
        raise PixelsmithError(f"no data set named; known: {', '.join(man['sets'])}")
    chosen = [known[s.lower()] for s in sets] if sets is not None else list(man["sets"])
    plans: list[tuple[str, list[_Layout]]] = []
    for name in dict.fromkeys(chosen):
        try:
            layouts = [_manifest_layout(man["sets"][name], int(man["prefix_bytes"]))]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PixelsmithError(f"{man['_path']}: malformed entry for set '{name}' "
                                  f"({type(e).__name__}: {e})") from None
        folder, cls_name = TORCHVISION_LAYOUTS.get(name, (None, None))
        if folder and (path / folder).is_dir() and (tv := _torchvision_layout(folder, cls_name)):
            layouts.append(tv)
        plans.append((name, layouts))
    present = {id(lay): scan_files(path, lay.folders) for _, lays in plans for lay in lays}
    jobs: dict[str, bool] = {}
    for _, lays in plans:
        for lay in lays:
            for forms in lay.entries.values():
                for rel, want in forms.items():
                    if rel in present[id(lay)]:
                        jobs[rel] = jobs.get(rel, False) or "md5" in want
    digests = hash_files(path, jobs, progress)
    reports = []
    for name, lays in plans:
        judged = [_judge(name, lay, present[id(lay)], digests) for lay in lays]
        found = [r for r in judged if r.status != "absent"] or judged[:1]
        for r in found:
            r.requested, r.default_folder = sets is not None, judged[0].folder
        reports += found
    return DataReport(path, reports)
