"""Task-agnostic alerts with hysteresis and k-of-n debouncing, one event on entry and one on clearing.

A rule is (field, comparator, threshold): it reads `field` of each prediction (a key, or a dotted
path into nested dicts, e.g. "probs.outer_race"), so the same code raises "RUL below 30 cycles",
"anomaly score above 0.8" and "fault class probability >= 0.9". A noisy signal must not flap, so:

- debounce: an alert is raised when the entry condition holds in at least `k` of the last `n`
  windows of that asset, and cleared when the clearing condition holds in `k` of the last `n`;
- hysteresis: the clearing condition is the entry comparator negated *and* `hysteresis` beyond the
  threshold (RUL < 30 raises; RUL > 30 + hysteresis counts towards clearing).

This is the usual Schmitt-trigger plus M-of-N detection logic of alarm management (ISA-18.2).

Categorical rules compare a label instead of a number: op "==" / "!=" with a string threshold, or
"in" with a list ("class in [OR007, OR014, OR021] for 3 of 5 windows"); they clear when the
condition fails in k of the last n windows (hysteresis has no meaning there and must be 0).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from prognos.edge_runtime.errors import ConfigError

COMPARATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
CATEGORICAL = {"==": operator.eq, "!=": operator.ne, "in": lambda v, options: v in options}


@dataclass(frozen=True)
class Rule:
    field: str
    op: str
    threshold: float | str | tuple  # a number; a label for == / !=; a list of labels for "in"
    hysteresis: float = 0.0  # the clearing value lies this far beyond the threshold
    k: int = 3  # raise/clear when the condition holds in k ...
    n: int = 5  # ... of the last n windows of an asset
    name: str = ""

    def __post_init__(self):
        if self.op not in COMPARATORS and self.op not in CATEGORICAL:
            raise ConfigError(
                f"alert rule {self.field!r}: comparator {self.op!r}; expected one of {[*COMPARATORS, *CATEGORICAL]}"
            )
        if self.op == "in":
            if not isinstance(self.threshold, (list, tuple)) or not self.threshold:
                raise ConfigError(f"alert rule {self.field!r}: 'in' needs a non-empty list, got {self.threshold!r}")
            object.__setattr__(self, "threshold", tuple(self.threshold))
        elif self.op in COMPARATORS and (
            isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float))
        ):
            raise ConfigError(f"alert rule {self.field!r}: {self.op} needs a number, got {self.threshold!r}")
        if self.categorical and self.hysteresis:
            raise ConfigError(f"alert rule {self.field!r}: hysteresis {self.hysteresis} on a label rule; expected 0")
        if not 1 <= self.k <= self.n:
            raise ConfigError(f"alert rule {self.field!r}: need 1 <= k <= n, got k={self.k}, n={self.n}")
        if self.hysteresis < 0:
            raise ConfigError(f"alert rule {self.field!r}: hysteresis must be >= 0, got {self.hysteresis}")
        object.__setattr__(self, "_test", CATEGORICAL.get(self.op) or COMPARATORS[self.op])  # not a field

    @property
    def categorical(self) -> bool:
        return self.op in CATEGORICAL

    @property
    def label(self) -> str:
        return self.name or f"{self.field} {self.op} {_fmt(self.threshold)}"

    @property
    def below(self) -> bool:
        return self.op in ("<", "<=")

    @property
    def clear_bound(self) -> float:
        """Numeric rules: a window counts towards clearing beyond this value (threshold ± hysteresis)."""
        return self.threshold + self.hysteresis if self.below else self.threshold - self.hysteresis

    def tests(self) -> tuple:
        """(entered, cleared) as two one-argument functions, for the per-window loop."""
        test, thr = self._test, self.threshold

        def entered(v):
            return test(v, thr)

        if self.categorical:
            return entered, (lambda v: not test(v, thr))
        back = self.clear_bound
        return entered, ((lambda v: v > back) if self.below else (lambda v: v < back))

    @classmethod
    def from_dict(cls, d: dict) -> "Rule":
        known = set(cls.__dataclass_fields__)
        if not isinstance(d, dict) or set(d) - known or not {"field", "op", "threshold"} <= set(d):
            raise ConfigError(
                f"alert rule {d!r}: expected a table with field, op, threshold "
                f"(and optionally {sorted(known - {'field', 'op', 'threshold'})})"
            )
        return cls(**d)


def rules_from_manifest(alerts: dict, override: float | None = None) -> list[Rule]:
    """Rules of a manifest's "alerts": {"rules": [...]} or the older {"rul_below": N}."""
    if override is not None:
        return [Rule("rul", "<=", float(override))]
    rules = [Rule.from_dict(r) for r in alerts.get("rules", [])]
    if "rul_below" in alerts:
        rules.append(Rule("rul", "<=", float(alerts["rul_below"]), hysteresis=5.0))
    return rules


def lookup(pred: dict, path: str):
    value = pred
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class _Window:
    """The last n booleans of a condition as the low n bits of an int, and how many are true (O(1))."""

    __slots__ = ("bits", "mask", "n", "size", "hits")

    def __init__(self, n: int):
        self.n, self.mask = n, (1 << n) - 1
        self.bits = self.size = self.hits = 0

    def push(self, bit: bool) -> int:
        self.bits = ((self.bits << 1) | bit) & self.mask
        self.size = min(self.size + 1, self.n)
        self.hits = self.bits.bit_count()
        return self.hits

    def __len__(self) -> int:
        return self.size

    def reset(self) -> None:
        self.bits = self.size = self.hits = 0


class _State:
    __slots__ = ("enter", "clear", "active")

    def __init__(self, n: int):
        self.enter, self.clear, self.active = _Window(n), _Window(n), False


class AlertTracker:
    """Per (asset, rule) debounced state; `update(asset, time_key, t, pred)` returns the events it causes."""

    def __init__(self, rules: list[Rule]):
        self.rules = list(rules)
        # per rule, what update() runs for every window: a plain field read without `lookup`'s path walk
        self._checks = [(i, r, r.field if "." not in r.field else None, *r.tests()) for i, r in enumerate(self.rules)]
        self._state: dict[tuple, _State] = {}
        self.raised = 0
        self.cleared = 0

    @property
    def active(self) -> int:
        return sum(s.active for s in self._state.values())

    def forget(self, asset) -> None:
        """Drop an evicted asset's state (it is counted as cleared only when it clears)."""
        for i in range(len(self.rules)):
            self._state.pop((asset, i), None)

    def update(self, asset, time_key: str, t, pred: dict) -> list[dict]:
        events = []
        for i, rule, key, entered_if, cleared_if in self._checks:
            value = pred.get(key) if key is not None else lookup(pred, rule.field)
            if (
                type(value) is not float
                and not isinstance(value, (int, float))
                and not (rule.categorical and isinstance(value, str))
            ):
                continue
            st = self._state.get((asset, i)) or self._state.setdefault((asset, i), _State(rule.n))
            entered, cleared = st.enter.push(entered_if(value)), st.clear.push(cleared_if(value))
            if not st.active and entered >= rule.k:
                st.active, self.raised = True, self.raised + 1
                events.append(_event("raised", rule, asset, time_key, t, value, st.enter))
                st.clear.reset()  # only windows after the raise count towards clearing
            elif st.active and cleared >= rule.k:
                st.active, self.cleared = False, self.cleared + 1
                events.append(_event("cleared", rule, asset, time_key, t, value, st.clear))
                st.enter.reset()
        return events


def _fmt(threshold) -> str:
    if isinstance(threshold, tuple):
        return "[" + ", ".join(map(str, threshold)) + "]"
    return f"{threshold:g}" if isinstance(threshold, (int, float)) else str(threshold)


def _event(state: str, rule: Rule, asset, time_key: str, t, value, win: _Window) -> dict:
    if state == "raised":
        why = f"{rule.field} {rule.op} {_fmt(rule.threshold)} in {win.hits} of the last {len(win)} windows"
    elif rule.categorical:
        why = f"not {rule.field} {rule.op} {_fmt(rule.threshold)} in {win.hits} of the last {len(win)} windows"
    else:
        why = f"{rule.field} {'>' if rule.below else '<'} {rule.clear_bound:g} in {win.hits} of the last {len(win)} windows"
    return {
        "alert": state,
        "rule": rule.label,
        "asset": asset,
        time_key: t,
        "field": rule.field,
        "value": value if isinstance(value, str) else round(float(value), 4),
        "threshold": list(rule.threshold) if isinstance(rule.threshold, tuple) else rule.threshold,
        "reason": why,
    }
