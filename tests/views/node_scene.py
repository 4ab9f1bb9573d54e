"""Run static/scene.js under node (no npm, no browser) on payloads and states.

`js_scenes(payload, states)` sends the payload's bytes as base64 and each
state as JSON to `node --input-type=module`, whose program is the canvas
module's scene part (the contract, then scene.js) plus a few lines that
build the scene of each state and print them as JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess

from distil_explorer.views.contract import STATIC, contract_prelude
from distil_explorer.views.payload import BYTE_FIELDS

NODE = shutil.which("node")

_DRIVER = """
const fs = await import("node:fs");
const input = JSON.parse(fs.readFileSync(process.env.SCENE_INPUT_FILE, "utf8"));
const raw = { ...input.payload };
for (const name of input.bytes) {
  const b = Buffer.from(input.payload[name], "base64");
  raw[name] = new DataView(b.buffer, b.byteOffset, b.byteLength);
}
const data = payloadData((name) => raw[name]);
const out = input.states.map((s) => plainScene(sceneOf(s, data)));
process.stdout.write(JSON.stringify(out));
"""


def state_json(state) -> dict:
    """A ViewState as the widget's traits carry it (lists, no `shown`)."""
    values = dataclasses.asdict(state)
    values.pop("shown")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def js_scenes(payload: dict, states: list, tmp_path) -> list[dict]:
    """scene.js's scene of each of `states` (ViewStates) for `payload`."""
    sent = dict(payload)
    for name in BYTE_FIELDS:
        sent[name] = base64.b64encode(payload[name]).decode("ascii")
    source = tmp_path / "scene_input.json"
    source.write_text(
        json.dumps(
            {
                "payload": sent,
                "bytes": list(BYTE_FIELDS),
                "states": [state_json(s) for s in states],
            }
        )
    )
    program = contract_prelude() + (STATIC / "scene.js").read_text() + _DRIVER
    done = subprocess.run(
        [NODE, "--input-type=module"],
        input=program,
        capture_output=True,
        text=True,
        env={"SCENE_INPUT_FILE": str(source)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
