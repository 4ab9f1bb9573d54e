"""The Explorer's Causal tab actions: patch, head importance, switch heads off.

A part of the `Explorer` controller (its base class), kept apart so that
explorer.py stays one screen of wiring: each action reads the Causal tab's
controls and the target chosen in the Attribution tab, calls the `Session`,
and hands what comes back to every panel (`_show` after a re-run, else the
Causal panel alone).
"""

from __future__ import annotations

from typing import Any

from distil_explorer.views.causal_panel import CausalPanel


class CausalActions:
    """`patch`, `head_importance`, `toggle_head`, `restore_heads` of the Explorer."""

    def patch(self, corrupted: str | None = None, **target: Any):
        """Patch the run on screen against `corrupted` (None: the Causal tab's
        corrupted text), for the target chosen in the Attribution tab (or
        `target`, `other_text`); returns the `Patching`.

        Examples:
        ```python
        app.patch("the dog sat").effect  # (L + 1, T)
        ```
        """
        panel = self.causal_panel
        text = panel.corrupted.value if corrupted is None else corrupted
        chosen = {**self._target_request(), **target}
        with self._working(panel.patch_button, panel.progress, "patching"):
            found = self.session.patch(text, **chosen)
        self._show_causal()
        return found

    def head_importance(self, method: str | None = None, **target: Any):
        """Each head's importance on the run on screen (the Causal tab's
        method, or `method`); returns the `HeadImportance`."""
        panel = self.causal_panel
        method = panel.method.value if method is None else method
        chosen = {**self._target_request(), **target}
        with self._working(panel.importance_button, panel.progress, method):
            found = self.session.head_importance(None, method=method, **chosen)
        self._show_causal()
        return found

    def toggle_head(self, layer: int, head: int):
        """Switch (`layer`, `head`) off, or back on, and re-run; returns the Trace."""
        heads = set(self.session.trace.ablated_heads) if self.session.trace else set()
        heads ^= {(int(layer), int(head))}
        return self.ablate(sorted(heads))

    def ablate(self, heads):
        """Re-run the input on screen with exactly `heads` switched off."""
        panel = self.causal_panel
        with self._working(panel.restore_button, panel.progress, "re-running"):
            trace = self.session.ablate(heads)
        self._show(trace)
        off = ", ".join(f"{a}.{b}" for a, b in trace.ablated_heads) or "none"
        self.status.value = f"<b>Re-ran</b> the input on screen; heads off: {off}."
        return trace

    def restore_heads(self):
        """Re-run the input on screen with every head on."""
        return self.ablate([])

    def _target_request(self) -> dict[str, Any]:
        """The Attribution tab's target (the pinned token for "original_token")."""
        pinned = self.attention_panel.canvas.selected_token
        return self.attribution_panel.target_request(pinned)

    def _new_causal_panel(self, text: str) -> CausalPanel:
        """The Causal tab, showing the Attribution tab's own target widgets."""
        return CausalPanel(self.attribution_panel.target_controls(), text)

    def _causal_clicks(self) -> dict:
        """{button: (action, its error area)} of the Causal tab's buttons."""
        panel = self.causal_panel
        return {
            panel.patch_button: (lambda: self.patch(), panel.error),
            panel.importance_button: (lambda: self.head_importance(), panel.error),
            panel.restore_button: (lambda: self.restore_heads(), panel.error),
        }

    def _show_causal(self) -> None:
        session = self.session
        self.causal_panel.follow_text(self.run_panel.text.value)
        self.causal_panel.show(session.trace, session.patching, session.importance)
