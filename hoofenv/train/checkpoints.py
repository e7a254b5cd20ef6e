"""What hoofenv says when the in-env runner refuses a checkpoint or finds that a file is not one (the events
`checkpoint-refused` / `not-a-checkpoint` and their exit codes, from hoofenv/inenv/checkpoint.py)."""

from __future__ import annotations

from hoofenv.errors import HoofenvError
from hoofenv.inenv import protocol

EVENTS = ("checkpoint-refused", "not-a-checkpoint")


def checkpoint_error(rc: int, event: dict | None, trust_hint: str) -> HoofenvError | None:
    """The error for exit status `rc` (None when it is not a checkpoint refusal). `event` is the runner's last
    refusal event; `trust_hint` the exact command that vouches for the file."""
    event = event or {}
    path = event.get("path") or "a checkpoint"
    if rc == protocol.EXIT_NOT_A_CHECKPOINT:
        return HoofenvError(f"{path} is not a checkpoint", causes=[str(event.get("why") or "torch cannot read it")],
                            hint="pass a .pth file that torch.save wrote (hoofenv train writes WORK_DIR/best.pth)",
                            code="not-a-checkpoint")
    if rc != protocol.EXIT_CHECKPOINT_REFUSED:
        return None
    causes = [f"torch's weights_only load stopped at: {event.get('why') or 'an object it does not allow'}"]
    names = [str(n) for n in event.get("globals") or []]
    if names:
        causes.append(f"it holds {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}: more than weights and data")
    if event.get("recorded"):
        causes.append("its sha256 is in the manifest beside it, but even hoofenv's own checkpoints may hold only "
                      "tensors, numpy data and mmengine's HistoryBuffer")
    else:
        causes.append("hoofenv did not write it (no matching sha256 in the .hoofenv-checkpoints.json beside it), so "
                      "it loads under torch's weights_only rules plus numpy data types")
    return HoofenvError(f"refused to load {path}: unpickling it could run code", causes=causes,
                        hint=f"{trust_hint}   (only if you know where it came from: it may run code when loaded)",
                        code="checkpoint-refused")
