"""layers/elfcheck.py on real ELF files of this machine (x86_64 or arm64 alike) and a patched copy."""

from __future__ import annotations

import os
import platform
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT, load_module_from_file

elfcheck = load_module_from_file("elfcheck", ROOT / "layers" / "elfcheck.py")
HOST = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]
OTHER = "x86_64" if HOST == "arm64" else "arm64"
HOST_GLIBC = tuple(int(p) for p in os.confstr("CS_GNU_LIBC_VERSION").split()[1].split("."))  # type: ignore[union-attr]


def _numpy_so() -> Path:
    import numpy

    found = sorted(Path(numpy.__file__).parent.glob("_core/_multiarray_umath*.so"))
    assert found, "numpy's extension module not found"
    return found[0]


@pytest.mark.parametrize("path", [_numpy_so(), Path("/bin/ls")], ids=["numpy-so", "bin-ls"])
def test_real_elf_files_are_this_machine_and_need_at_most_its_glibc(path: Path) -> None:
    info = elfcheck.read_elf(path.resolve())
    assert info.machine == elfcheck.MACHINES[HOST]
    assert info.glibc is not None and (2, 2) <= info.glibc <= HOST_GLIBC


@pytest.mark.skipif(
    shutil.which("readelf") is None, reason="optional machine tool readelf (binutils) is not installed"
)
def test_glibc_versions_agree_with_readelf() -> None:
    path = Path("/bin/ls").resolve()
    listed = subprocess.run(["readelf", "-V", str(path)], capture_output=True, text=True, check=True).stdout
    versions = {
        tuple(int(p) for p in v.split(".")) for v in re.findall(r"Name: GLIBC_(\d+(?:\.\d+)+)", listed)
    }
    assert elfcheck.read_elf(path).glibc == max(versions)


def test_layer_like_tree_passes_for_this_architecture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(_numpy_so(), tmp_path / "mod.so")
    (tmp_path / "mod.py").write_text("x = 1\n")
    assert elfcheck.main([str(tmp_path), "--architecture", HOST, "--max-glibc", "2.34"]) == 0
    out = capsys.readouterr().out
    assert "2 files, 1 ELF" in out and f"ok for {HOST}" in out
    assert "highest glibc needed GLIBC_2." in out and "mod.so" in out


def test_patched_machine_and_too_new_glibc_fail_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patched = tmp_path / "site" / "wrong.so"
    patched.parent.mkdir()
    shutil.copy(_numpy_so(), patched)
    with patched.open("r+b") as file:
        file.seek(18)  # e_machine
        file.write(struct.pack("<H", elfcheck.MACHINES[OTHER]))
    assert elfcheck.main([str(tmp_path), "--architecture", HOST]) == 1
    err = capsys.readouterr().err
    assert f"wrong.so: built for {elfcheck.MACHINE_NAMES[elfcheck.MACHINES[OTHER]]}, not" in err
    assert elfcheck.main([str(tmp_path), "--architecture", OTHER]) == 0  # it is the other CPU's now
    capsys.readouterr()
    assert elfcheck.main([str(tmp_path), "--architecture", OTHER, "--max-glibc", "2.1"]) == 1
    assert re.search(r"wrong\.so: needs GLIBC_2\.\d+, newer than 2\.1", capsys.readouterr().err)


def test_32_bit_or_big_endian_elf_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "old.so"
    path.write_bytes(b"\x7fELF\x01\x01\x01" + b"\0" * 57)
    report = elfcheck.check([tmp_path], architecture=HOST, max_glibc=(2, 34))
    assert report.offenders == [
        f"{path}: 32-bit little-endian ELF: only ELF64 little-endian is supported (all Lambda runs)"
    ]
    path.write_bytes(b"\x7fELF\x02\x02\x01" + b"\0" * 57)
    assert (
        "64-bit big-endian ELF"
        in elfcheck.check([tmp_path], architecture=HOST, max_glibc=(2, 34)).offenders[0]
    )
    path.write_bytes(b"\x7fELF\x02\x01" + b"\0" * 10)
    assert "truncated" in elfcheck.check([tmp_path], architecture=HOST, max_glibc=(2, 34)).offenders[0]
