"""The domain's nouns as tiny comparable values: CUDA tags, driver versions, compute capabilities.

Parsing happens once, here, with an error that names the bad value; everything else compares values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from hoofenv.errors import HoofenvError

_TAG = re.compile(r"^cu(\d{2,3})$")


@total_ordering
@dataclass(frozen=True)
class CudaTag:
    """A wheel's compute backend: `cpu` or `cuXYZ` (cu118 = CUDA 11.8, cu121 = 12.1, cu130 = 13.0)."""

    major: int = 0
    minor: int = 0

    @classmethod
    def parse(cls, text: str) -> "CudaTag":
        text = str(text).strip().lower()
        if text == "cpu":
            return cls(0, 0)
        m = _TAG.match(text)
        if not m:
            raise HoofenvError(
                f"`{text}` is not a CUDA tag",
                hint="use `cpu` or `cuXYZ` as in the PyTorch index, e.g. `--cuda cu121`",
                code="bad-cuda-tag",
                exit_code=2,
            )
        digits = m.group(1)
        return cls(int(digits[:-1]), int(digits[-1]))

    @classmethod
    def from_version(cls, version: str) -> "CudaTag":
        """'12.1' -> cu121, as the CUDA runtime version is written by torch.version.cuda and nvcc."""
        major, minor = (int(p) for p in str(version).split(".")[:2])
        return cls(major, minor)

    @property
    def is_cpu(self) -> bool:
        return self.major == 0

    @property
    def version(self) -> str | None:
        return None if self.is_cpu else f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return "cpu" if self.is_cpu else f"cu{self.major}{self.minor}"

    def __lt__(self, other: "CudaTag") -> bool:
        return (self.major, self.minor) < (other.major, other.minor)


@total_ordering
@dataclass(frozen=True)
class DriverVersion:
    """An NVIDIA driver version such as 535.183.01, compared numerically part by part."""

    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> "DriverVersion":
        text = str(text).strip()
        if not re.fullmatch(r"\d+(\.\d+){0,3}", text):
            raise HoofenvError(
                f"`{text}` is not an NVIDIA driver version",
                hint="write it as nvidia-smi prints it, e.g. `535.183.01`",
                code="bad-driver-version",
                exit_code=2,
            )
        return cls(tuple(int(p) for p in text.split(".")))

    def __str__(self) -> str:
        first, *rest = self.parts
        return ".".join([str(first), *(f"{p:02d}" for p in rest)])

    def __lt__(self, other: "DriverVersion") -> bool:
        width = max(len(self.parts), len(other.parts))
        pad = lambda p: p + (0,) * (width - len(p))  # noqa: E731
        return pad(self.parts) < pad(other.parts)


@total_ordering
@dataclass(frozen=True)
class ComputeCapability:
    """A GPU architecture (sm_XY). Wheels list the architectures they carry code for."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> "ComputeCapability":
        text = str(text).strip().lower().removeprefix("sm_").removeprefix("compute_")
        m = re.fullmatch(r"(\d+)\.?(\d)", text)
        if not m:
            raise HoofenvError(
                f"`{text}` is not a compute capability",
                hint="write it as `8.6` or `sm_86`",
                code="bad-compute-capability",
                exit_code=2,
            )
        return cls(int(m.group(1)), int(m.group(2)))

    @property
    def sm(self) -> str:
        return f"sm_{self.major}{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def __lt__(self, other: "ComputeCapability") -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def runs_code_for(self, built: "ComputeCapability", ptx: bool = False) -> bool:
        """Whether a GPU of this capability runs code compiled for `built`.

        SASS runs on the same major with an equal or higher minor (sm_86 code on sm_89);
        PTX is JIT-compiled by the driver for any equal or newer capability.
        """
        if ptx:
            return self >= built
        return self.major == built.major and self.minor >= built.minor
