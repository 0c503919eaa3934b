"""Qlib's Alpha158 factor set, written in the Qlib dialect (``parse(text, dialect="qlib")``).

The 158 definitions are generated here from the documented templates of Qlib's default Alpha158 feature
configuration (9 candle-bar factors, 4 price ratios of today, and 29 rolling families over the windows
5, 10, 20, 30 and 60 days); no file of Qlib is copied. The names are Qlib's (``KMID``, ``MA5``, ...).
"""

from __future__ import annotations

__all__ = ["ALPHA158_WINDOWS", "alpha158"]

#: The rolling windows of Alpha158, in days.
ALPHA158_WINDOWS: tuple[int, ...] = (5, 10, 20, 30, 60)

_EPS = "1e-12"
_RANGE = f"($high-$low+{_EPS})"
_UP = "Greater($open, $close)"
_DOWN = "Less($open, $close)"

_KBAR: tuple[tuple[str, str], ...] = (
    ("KMID", "($close-$open)/$open"),
    ("KLEN", "($high-$low)/$open"),
    ("KMID2", f"($close-$open)/{_RANGE}"),
    ("KUP", f"($high-{_UP})/$open"),
    ("KUP2", f"($high-{_UP})/{_RANGE}"),
    ("KLOW", f"({_DOWN}-$low)/$open"),
    ("KLOW2", f"({_DOWN}-$low)/{_RANGE}"),
    ("KSFT", "(2*$close-$high-$low)/$open"),
    ("KSFT2", f"(2*$close-$high-$low)/{_RANGE}"),
)


def _gain_ratio(field: str, d: int, part: str) -> str:
    """Sum of the rises (``up``), falls (``down``) or their difference (``diff``) over the total move."""
    change = f"${field}-Ref(${field}, 1)"
    up = f"Sum(Greater({change}, 0), {d})"
    down = f"Sum(Greater(Ref(${field}, 1)-${field}, 0), {d})"
    total = f"(Sum(Abs({change}), {d})+{_EPS})"
    top = {"up": up, "down": down, "diff": f"({up}-{down})"}[part]
    return f"{top}/{total}"


def _rolling(d: int) -> tuple[tuple[str, str], ...]:
    ret = "Abs($close/Ref($close, 1)-1)*$volume"
    return (
        ("ROC", f"Ref($close, {d})/$close"),
        ("MA", f"Mean($close, {d})/$close"),
        ("STD", f"Std($close, {d})/$close"),
        ("BETA", f"Slope($close, {d})/$close"),
        ("RSQR", f"Rsquare($close, {d})"),
        ("RESI", f"Resi($close, {d})/$close"),
        ("MAX", f"Max($high, {d})/$close"),
        ("MIN", f"Min($low, {d})/$close"),
        ("QTLU", f"Quantile($close, {d}, 0.8)/$close"),
        ("QTLD", f"Quantile($close, {d}, 0.2)/$close"),
        ("RANK", f"Rank($close, {d})"),
        ("RSV", f"($close-Min($low, {d}))/(Max($high, {d})-Min($low, {d})+{_EPS})"),
        ("IMAX", f"IdxMax($high, {d})/{d}"),
        ("IMIN", f"IdxMin($low, {d})/{d}"),
        ("IMXD", f"(IdxMax($high, {d})-IdxMin($low, {d}))/{d}"),
        ("CORR", f"Corr($close, Log($volume+1), {d})"),
        ("CORD", f"Corr($close/Ref($close, 1), Log($volume/Ref($volume, 1)+1), {d})"),
        ("CNTP", f"Mean($close>Ref($close, 1), {d})"),
        ("CNTN", f"Mean($close<Ref($close, 1), {d})"),
        ("CNTD", f"Mean($close>Ref($close, 1), {d})-Mean($close<Ref($close, 1), {d})"),
        ("SUMP", _gain_ratio("close", d, "up")),
        ("SUMN", _gain_ratio("close", d, "down")),
        ("SUMD", _gain_ratio("close", d, "diff")),
        ("VMA", f"Mean($volume, {d})/($volume+{_EPS})"),
        ("VSTD", f"Std($volume, {d})/($volume+{_EPS})"),
        ("WVMA", f"Std({ret}, {d})/(Mean({ret}, {d})+{_EPS})"),
        ("VSUMP", _gain_ratio("volume", d, "up")),
        ("VSUMN", _gain_ratio("volume", d, "down")),
        ("VSUMD", _gain_ratio("volume", d, "diff")),
    )


def alpha158() -> tuple[tuple[str, str], ...]:
    """The 158 ``(name, Qlib expression)`` pairs of Alpha158, in Qlib's order (kbar, price, rolling
    families each over the windows 5..60)."""
    out = list(_KBAR)
    out += [(field.upper() + "0", f"${field}/$close") for field in ("open", "high", "low", "vwap")]
    families = [_rolling(d) for d in ALPHA158_WINDOWS]
    for k in range(len(families[0])):
        for d, family in zip(ALPHA158_WINDOWS, families):
            name, text = family[k]
            out.append((f"{name}{d}", text))
    return tuple(out)
