"""Microcontroller targets as data: flash, RAM, clock and an int8 MAC-per-cycle figure, and the fit test.

A model fits a target when its flash need (the .tflite array + the preprocessing constant tables) and
its RAM need (the TFLM tensor arena measured by export.tflm + the preprocessing buffers) are within
the target's figures. The TFLM interpreter's own code (tens of KB of flash) and the application's
stack and heap are not counted: `fit` answers "does the model leave room", not "does the firmware
link". Latency is an estimate, MACs (models.macs) / (MACs per cycle x clock), not a measurement:
the figures below are assumptions about CMSIS-NN / ESP-NN int8 kernels, stated with their reasons.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from prognos.edge_runtime.errors import ConfigError

KB = 1024


@dataclass(frozen=True)
class Target:
    name: str
    flash_bytes: int
    ram_bytes: int  # the largest block an arena can live in
    clock_hz: float
    macs_per_cycle: float  # int8 multiply-accumulates per cycle the kernels sustain (an assumption)
    part: str  # an example part with these figures
    source: str  # where the figures come from

    def to_dict(self) -> dict:
        return asdict(self)


TARGETS = {
    t.name: t
    for t in [
        Target(
            "cortex-m4",
            256 * KB,
            64 * KB,
            80e6,
            1.0,
            "STM32L432KC (Cortex-M4F)",
            "ST STM32L432KC datasheet: 256 KB flash, 64 KB SRAM, 80 MHz. MACs/cycle: the M4's SMLAD does two "
            "16-bit MACs per cycle; CMSIS-NN int8 kernels spend instructions widening int8 to int16, so 1 "
            "is assumed",
        ),
        Target(
            "cortex-m7",
            1024 * KB,
            512 * KB,
            480e6,
            2.0,
            "STM32H743xG (Cortex-M7)",
            "ST STM32H743xI/G datasheet: 1 MB flash (xG), 480 MHz; of its 1 MB SRAM the 512 KB AXI SRAM is the "
            "largest contiguous block, where the arena goes. MACs/cycle: dual-issue M7 with SMLAD (2 16-bit "
            "MACs); 2 assumed",
        ),
        Target(
            "esp32-s3",
            8192 * KB,
            8192 * KB,
            240e6,
            4.0,
            "ESP32-S3-WROOM-1-N8R8",
            "Espressif ESP32-S3-WROOM-1 datasheet: 8 MB flash, 8 MB octal PSRAM (arena in PSRAM; 512 KB "
            "internal SRAM), 240 MHz Xtensa LX7. MACs/cycle: 128-bit SIMD (PIE) used by ESP-NN, at most 16 "
            "int8 MACs/cycle; 4 assumed for PSRAM-bound kernels",
        ),
    ]
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ConfigError(f"unknown target {name!r}; expected one of {', '.join(TARGETS)}")
    return TARGETS[name]


def fit(
    target: Target, model_bytes: int, arena_bytes: int, tables_bytes: int, buffer_bytes: int, macs: int | None
) -> dict:
    """Flash and RAM needs against `target`, what is left, the estimated latency and why it does not fit."""
    flash, ram = model_bytes + tables_bytes, arena_bytes + buffer_bytes
    short = [
        f"{what} {need / KB:.1f} KB > {have / KB:.0f} KB"
        for what, need, have in (("flash", flash, target.flash_bytes), ("RAM", ram, target.ram_bytes))
        if need > have
    ]
    return {
        "target": target.name,
        "fits": not short,
        "flash_bytes": flash,
        "ram_bytes": ram,
        "flash_free_bytes": target.flash_bytes - flash,
        "ram_free_bytes": target.ram_bytes - ram,
        "est_latency_ms": round(macs / (target.macs_per_cycle * target.clock_hz) * 1e3, 3) if macs else None,
        **({"why": "; ".join(short)} if short else {}),
    }


def markdown_targets() -> str:
    """The target table (docs, `prognos mcu --help` output)."""
    lines = ["| target | flash KB | RAM KB | MHz | MACs/cycle | example part |", "|---|---:|---:|---:|---:|---|"]
    lines += [
        f"| {t.name} | {t.flash_bytes // KB} | {t.ram_bytes // KB} | {t.clock_hz / 1e6:.0f} | "
        f"{t.macs_per_cycle:g} | {t.part} |"
        for t in TARGETS.values()
    ]
    return "\n".join(lines) + "\n"
