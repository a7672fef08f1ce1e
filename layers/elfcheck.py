#!/usr/bin/env python3
"""Check the native code in built layers: right CPU, and no newer glibc than Lambda's OS has.

    python layers/elfcheck.py layers/ml/build layers/common/build --architecture arm64 --max-glibc 2.34

A layer built with pip ``--platform`` for the wrong architecture, or a wheel needing a newer glibc than
Amazon Linux 2023's 2.34, only fails at the first cold start (``No module named
'pydantic_core._pydantic_core'``, ``GLIBC_2.35 not found``). This finds every ELF file by its magic
bytes, reads its ``e_machine`` and the versions it needs from ``.gnu.version_r`` (SHT_GNU_verneed)
and exits non-zero listing the offenders. A small pure-Python reader (struct, no pyelftools or
binutils needed): ELF64 little-endian only, which is all Lambda runs; anything else is an offender.
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
MACHINES = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64
MACHINE_NAMES = {183: "aarch64", 62: "x86_64", 3: "i386", 40: "arm", 21: "ppc64", 22: "s390"}
SHT_GNU_VERNEED = 0x6FFFFFFE
SHN_UNDEF = 0
HEADER = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr
SECTION = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
VERNEED = struct.Struct("<HHIII")  # Elf64_Verneed: version, cnt, file, aux, next
VERNAUX = struct.Struct("<IHHII")  # Elf64_Vernaux: hash, flags, other, name, next
GLIBC_VERSION = re.compile(rb"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?")


class ElfError(ValueError):
    """Not an ELF file this checker can read (the message says why)."""


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    machine: int
    glibc: tuple[int, ...] | None  # the highest GLIBC_x.y it needs, None if it needs none

    @property
    def machine_name(self) -> str:
        return MACHINE_NAMES.get(self.machine, f"e_machine {self.machine}")


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == ELF_MAGIC
    except OSError:
        return False


def _read(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    data = file.read(size)
    if len(data) != size:
        raise ElfError(f"truncated at offset {offset}")
    return data


def _string(table: bytes, offset: int) -> bytes:
    end = table.find(b"\0", offset)
    return table[offset:] if end < 0 else table[offset:end]


def read_elf(path: Path) -> ElfInfo:
    with path.open("rb") as file:
        header = HEADER.unpack(_read(file, 0, HEADER.size))
        ident = header[0]
        if ident[:4] != ELF_MAGIC:
            raise ElfError("not an ELF file")
        if ident[4] != ELFCLASS64 or ident[5] != ELFDATA2LSB:
            bits = {1: "32-bit", 2: "64-bit"}.get(ident[4], f"class {ident[4]}")
            order = {1: "little-endian", 2: "big-endian"}.get(ident[5], f"data {ident[5]}")
            raise ElfError(f"{bits} {order} ELF: only ELF64 little-endian is supported (all Lambda runs)")
        machine, shoff, shentsize, shnum = header[2], header[6], header[11], header[12]
        if shoff == 0:  # no section headers (stripped hard): nothing says which versions it needs
            return ElfInfo(path, machine, None)
        if shentsize != SECTION.size:
            raise ElfError(f"unexpected section header size {shentsize}")
        if shnum == 0:  # 65280 sections or more: the real count is in section 0's sh_size
            shnum = SECTION.unpack(_read(file, shoff, SECTION.size))[5]
        sections = [
            SECTION.unpack(_read(file, shoff + index * SECTION.size, SECTION.size)) for index in range(shnum)
        ]
        needed: list[tuple[int, ...]] = []
        for section in sections:
            if section[1] != SHT_GNU_VERNEED:
                continue
            offset, size, link, count = section[4], section[5], section[6], section[7]
            if link == SHN_UNDEF or link >= len(sections):
                raise ElfError("version-needs section without a string table")
            strings_section = sections[link]
            strings = _read(file, strings_section[4], strings_section[5])
            data = _read(file, offset, size)
            needed.extend(_glibc_versions(data, strings, count))
        return ElfInfo(path, machine, max(needed) if needed else None)


def _glibc_versions(data: bytes, strings: bytes, count: int) -> Iterator[tuple[int, ...]]:
    """Walk the Verneed chain (``count`` entries from ``sh_info``) and its Vernaux entries."""
    position = 0
    for _ in range(count):
        if position + VERNEED.size > len(data):
            raise ElfError("version-needs entry past its section")
        _version, aux_count, _file, aux, next_entry = VERNEED.unpack_from(data, position)
        aux_position = position + aux
        for _ in range(aux_count):
            if aux_position + VERNAUX.size > len(data):
                raise ElfError("version-needs aux entry past its section")
            _hash, _flags, _other, name, next_aux = VERNAUX.unpack_from(data, aux_position)
            match = GLIBC_VERSION.fullmatch(_string(strings, name))
            if match:  # GLIBC_PRIVATE and other libraries' version names do not count
                yield tuple(int(part) for part in match.groups() if part is not None)
            if next_aux == 0:
                break
            aux_position += next_aux
        if next_entry == 0:
            break
        position += next_entry


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def parse_version(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+(\.\d+)+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a version such as 2.34")
    return tuple(int(part) for part in text.split("."))


@dataclass
class Report:
    files: int = 0
    elf: list[ElfInfo] = field(default_factory=list)
    offenders: list[str] = field(default_factory=list)

    @property
    def machines(self) -> Counter[str]:
        return Counter(info.machine_name for info in self.elf)

    @property
    def highest_glibc(self) -> ElfInfo | None:
        needing = [info for info in self.elf if info.glibc is not None]
        return max(needing, key=lambda info: info.glibc or ()) if needing else None


def walk(paths: Iterable[Path]) -> Iterator[Path]:
    for root in paths:
        if root.is_file():
            yield root
            continue
        for directory, _dirs, files in os.walk(root):
            for name in sorted(files):
                path = Path(directory) / name
                if path.is_file() and not path.is_symlink():  # a link's target is checked where it lives
                    yield path


def check(paths: Iterable[Path], *, architecture: str, max_glibc: tuple[int, ...]) -> Report:
    expected = MACHINES[architecture]
    report = Report()
    for path in walk(paths):
        report.files += 1
        if not is_elf(path):
            continue
        try:
            info = read_elf(path)
        except (ElfError, OSError, struct.error) as error:
            report.offenders.append(f"{path}: {error}")
            continue
        report.elf.append(info)
        if info.machine != expected:
            report.offenders.append(
                f"{path}: built for {info.machine_name}, not {MACHINE_NAMES[expected]} ({architecture})"
            )
        if info.glibc is not None and info.glibc > max_glibc:
            report.offenders.append(
                f"{path}: needs GLIBC_{version_text(info.glibc)}, newer than {version_text(max_glibc)}"
            )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("paths", nargs="+", type=Path, help="directories (or files) to check")
    parser.add_argument("--architecture", choices=sorted(MACHINES), required=True)
    parser.add_argument(
        "--max-glibc",
        type=parse_version,
        default=(2, 34),
        help="highest glibc allowed (default 2.34, Amazon Linux 2023)",
    )
    arguments = parser.parse_args(argv)
    missing = [str(path) for path in arguments.paths if not path.exists()]
    if missing:
        parser.error(f"no such file or directory: {', '.join(missing)}")
    report = check(arguments.paths, architecture=arguments.architecture, max_glibc=arguments.max_glibc)
    machines = ", ".join(f"{name} {count}" for name, count in sorted(report.machines.items())) or "none"
    print(f"elfcheck: {report.files} files, {len(report.elf)} ELF (machines: {machines})")
    highest = report.highest_glibc
    if highest is not None and highest.glibc is not None:
        print(
            f"elfcheck: highest glibc needed GLIBC_{version_text(highest.glibc)} by {highest.path} "
            f"(limit {version_text(arguments.max_glibc)})"
        )
    else:
        print("elfcheck: no file needs a versioned glibc symbol")
    if report.offenders:
        print(f"elfcheck: {len(report.offenders)} offender(s) for {arguments.architecture}:", file=sys.stderr)
        for offender in report.offenders:
            print(f"  {offender}", file=sys.stderr)
        return 1
    print(f"elfcheck: ok for {arguments.architecture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
