"""Version-keyed Kubernetes and etcd data under rules/k8s/, one directory per
minor version, from the k8s-upstream extraction (lists taken from the
Kubernetes and etcd sources; its README gives sources and method, copied to
rules/k8s/PROVENANCE.md).

    python tools/k8s_versions.py import DIR   # (re)write rules/k8s from DIR
    python tools/k8s_versions.py check DIR    # exit 1 if rules/k8s differs from DIR
    python tools/k8s_versions.py verify       # rules/k8s is complete and consistent

Layout written:

    rules/k8s/<minor>/<component>.flags    flags the component accepts (no dashes)
    rules/k8s/<minor>/gates.txt             --feature-gates names (all four binaries)
    rules/k8s/<minor>/kubelet-config.txt    KubeletConfiguration top-level fields
    rules/k8s/<minor>/kubelet-config-paths.txt   every field as a dotted path
    rules/k8s/<minor>/kubeadm/<component>.txt    flags kubeadm writes (1.31+)
    rules/k8s/etcd/<minor>/flags.txt, flags-status.tsv, flags-since.tsv, gates.txt, gates.tsv
    rules/k8s/versions.tsv, gate-exceptions.tsv, etcd-experimental-flags.tsv,
    rules/k8s/kubeadm-etcd-version.tsv, rules/k8s/prerelease/<tag>/...

Adding the next minor version is new files here and no code change.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "rules" / "k8s"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
# kaudit's own data beside the upstream lists (kept by import): rules/k8s/OWN-DATA.md
OWN = {"releases.tsv", "replacements.tsv", "OWN-DATA.md"}


def plan(src: Path) -> dict[str, Path]:
    """Destination (relative to rules/k8s) -> source file."""
    files: dict[str, Path] = {}
    minors = sorted(p.stem for p in (src / "gates").glob("1.*.txt"))
    for minor in minors:
        for comp in COMPONENTS:
            files[f"{minor}/{comp}.flags"] = src / "flags" / comp / f"{minor}.txt"
        files[f"{minor}/gates.txt"] = src / "gates" / f"{minor}.txt"
        files[f"{minor}/kubelet-config.txt"] = src / "kubelet-config" / f"{minor}.txt"
        paths = src / "kubelet-config" / "paths"
        files[f"{minor}/kubelet-config-paths.txt"] = paths / f"{minor}.txt"
        kubeadm = src / "kubeadm" / minor
        if kubeadm.is_dir():
            for f in sorted(kubeadm.glob("*.txt")):
                files[f"{minor}/kubeadm/{f.name}"] = f
    for f in sorted((src / "etcd" / "flags").glob("*.txt")):
        minor = f.stem
        files[f"etcd/{minor}/flags.txt"] = f
        files[f"etcd/{minor}/flags-status.tsv"] = f.with_name(f"{minor}.status.tsv")
        files[f"etcd/{minor}/flags-since.tsv"] = f.with_name(f"{minor}.since.tsv")
        gates = src / "etcd" / "gates"
        if (gates / f"{minor}.txt").exists():
            files[f"etcd/{minor}/gates.txt"] = gates / f"{minor}.txt"
            files[f"etcd/{minor}/gates.tsv"] = gates / f"{minor}.tsv"
    files["versions.tsv"] = src / "versions.tsv"
    files["gate-exceptions.tsv"] = src / "gates" / "exceptions.tsv"
    files["etcd-experimental-flags.tsv"] = src / "etcd" / "experimental-flags.tsv"
    files["kubeadm-etcd-version.tsv"] = src / "etcd" / "kubeadm-etcd-version.tsv"
    files["kubeadm-etcd-history.tsv"] = src / "etcd" / "kubeadm-etcd-history.tsv"
    for f in sorted((src / "prerelease").rglob("*")):
        if f.is_file():
            files[f"prerelease/{f.relative_to(src / 'prerelease')}"] = f
    for f in sorted((src / "provenance").glob("*")):
        files[f"provenance/{f.name}"] = f
    files["PROVENANCE.md"] = src / "README.md"
    return files


def do_import(src: Path) -> int:
    files = plan(src)
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        print(f"missing in {src}: {missing}")
        return 1
    kept = {name: (OUT / name).read_bytes() for name in OWN if (OUT / name).is_file()}
    if OUT.exists():
        shutil.rmtree(OUT)
    for name, data in kept.items():
        (OUT / name).parent.mkdir(parents=True, exist_ok=True)
        (OUT / name).write_bytes(data)
    for rel, path in files.items():
        dest = OUT / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    print(f"wrote {len(files)} files under {OUT.relative_to(ROOT)}")
    return verify()


def check(src: Path) -> int:
    files = plan(src)
    stale = [rel for rel, path in files.items()
             if not (OUT / rel).is_file() or (OUT / rel).read_bytes() != path.read_bytes()]
    extra = sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*")
                   if p.is_file() and str(p.relative_to(OUT)) not in files
                   and str(p.relative_to(OUT)) not in OWN)
    for rel in stale:
        print(f"differs from the source: rules/k8s/{rel}")
    for rel in extra:
        print(f"not in the source: rules/k8s/{rel}")
    return 1 if stale or extra else 0


def names(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines()
            if ln and not ln.startswith("#")]


def problems() -> list[str]:
    """What is wrong with rules/k8s as data the rules read."""
    out: list[str] = []
    minors = sorted((p.name for p in OUT.glob("1.*") if p.is_dir()),
                    key=lambda m: tuple(map(int, m.split("."))))
    if not minors:
        return ["no minor version directories under rules/k8s"]
    for minor in minors:
        d = OUT / minor
        for name in [*(f"{c}.flags" for c in COMPONENTS), "gates.txt", "kubelet-config.txt",
                     "kubelet-config-paths.txt"]:
            f = d / name
            if not f.is_file():
                out.append(f"{minor}: {name} missing")
                continue
            items = names(f)
            if items != sorted(set(items)):
                out.append(f"{minor}/{name}: not sorted and unique")
            if any(i.startswith("-") or i != i.strip() for i in items):
                out.append(f"{minor}/{name}: a name with dashes or blanks")
        kubeadm = d / "kubeadm"
        for f in sorted(kubeadm.glob("*.txt")) if kubeadm.is_dir() else []:
            comp = f.stem
            if comp in COMPONENTS and (d / f"{comp}.flags").is_file():
                unknown = set(names(f)) - set(names(d / f"{comp}.flags"))
                if unknown:
                    out.append(f"{minor}/kubeadm/{f.name}: not in {comp}.flags: "
                               f"{sorted(unknown)}")
        fields = set(names(d / "kubelet-config.txt")) if (d / "kubelet-config.txt").is_file() \
            else set()
        roots = {p.split(".")[0].split("[")[0]
                 for p in names(d / "kubelet-config-paths.txt")} \
            if (d / "kubelet-config-paths.txt").is_file() else set()
        if fields and roots - fields:
            out.append(f"{minor}: kubelet-config paths with unknown roots {sorted(roots - fields)}")
    return out


def verify() -> int:
    found = problems()
    for p in found:
        print(p)
    return 1 if found else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["import"] and len(argv) == 2:
        return do_import(Path(argv[1]))
    if argv[:1] == ["check"] and len(argv) == 2:
        return check(Path(argv[1]))
    if argv == ["verify"]:
        return verify()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
