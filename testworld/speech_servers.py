"""Speech servers: a text-to-speech stand-in behind every pod of the collection's non-LLM services.

**Stand-in.** The TTS engine (Magpie TTS in ``inventory/example``) needs a GPU and never runs here; its pods are
KWOK's (Running, a pod IP from ``127.1.0.0/16``, no process). This component answers on each such pod's IP and
container port what the OpenAI-compatible speech endpoint answers, and nothing more
(OpenAI API reference, "Create speech", ``POST /v1/audio/speech``):

- the body is JSON with ``input`` (required, at most 4,096 characters), ``model``, ``voice``, ``response_format``
  (``wav`` or ``pcm`` here; ``mp3``, ``opus``, ``aac`` and ``flac`` need an encoder and are refused with 400 naming
  the allowed ones) and ``speed`` (0.25-4.0);
- the answer is audio: a RIFF/WAVE file (16-bit PCM, mono, 22,050 Hz, Magpie TTS's output rate) or the raw PCM
  samples, a 440 Hz tone of 60 ms per input character divided by ``speed`` -- real, playable audio whose length
  follows the input;
- ``GET /health`` answers 200; anything else 404.

Which pods: every pod labelled ``tokenlabs.io/component=service`` (the collection's service pods), Running with a
pod IP in ``127.0.0.0/8`` (others are refused, logged, never served), on the first container port. The supervisor
(``python -m testworld.speech_servers run``) lists them every :data:`POLL_INTERVAL` s as the user
``system:testworld:speech-servers`` (it writes nothing) and serves each from a thread of its own process; its
status file names each pod it serves (``servers``). Logs: ``<state>/logs/speech-servers.log``.

    python -m testworld.speech_servers run --kubeconfig K --status-file F
"""

from __future__ import annotations

import json
import math
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testworld.base import State, stop_process
from testworld.netns import serving_pods
from testworld.supervision import (Kubernetes, reconcile_until_stopped, reconciler_parser, reconciler_ready,
                                   run_until_signalled, supervisor_status, up_reconciler)

NAME = "speech-servers"
SUBJECT = "/O=system:masters/CN=system:testworld:speech-servers"
SELECTOR = "tokenlabs.io/component=service"
POLL_INTERVAL = 1.0
RATE = 22050
SECONDS_PER_CHARACTER = 0.06
MAX_INPUT = 4096
FORMATS = {"wav": "audio/wav", "pcm": "audio/pcm"}


# --- pure functions (unit-tested) -------------------------------------------------------------------------------

# One second of a 440 Hz tone (a whole number of periods, so seconds join without a click).
ONE_SECOND = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / RATE))) for i in range(RATE))


def samples(characters: int, speed: float = 1.0) -> bytes:
    """16-bit little-endian PCM of a 440 Hz tone, 60 ms per character at ``speed`` 1."""
    count = int(RATE * SECONDS_PER_CHARACTER * characters / speed)
    return (ONE_SECOND * (count // RATE + 1))[:2 * count]


def wav(pcm: bytes) -> bytes:
    """A RIFF/WAVE file around 16-bit mono PCM at :data:`RATE`."""
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1, RATE,
                         RATE * 2, 2, 16, b"data", len(pcm))
    return header + pcm


def speech(body: bytes) -> tuple[int, str, bytes]:
    """``(status, content type, payload)`` of one ``POST /v1/audio/speech``."""
    try:
        request = json.loads(body or b"")
    except ValueError:
        return 400, "application/json", _error("the body is not JSON")
    if not isinstance(request, dict):
        return 400, "application/json", _error("the body must be a JSON object")
    text = request.get("input")
    if not isinstance(text, str) or not text or len(text) > MAX_INPUT:
        return 400, "application/json", _error(f"input must be a string of 1 to {MAX_INPUT} characters")
    audio_format = request.get("response_format", "wav")
    if audio_format not in FORMATS:
        return 400, "application/json", _error(
            f"response_format {audio_format!r} is not served by this stand-in; allowed: {', '.join(FORMATS)}")
    speed = request.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        return 400, "application/json", _error(f"speed {speed!r} must be a number from 0.25 to 4.0")
    pcm = samples(len(text), float(speed))
    return 200, FORMATS[audio_format], wav(pcm) if audio_format == "wav" else pcm


def _error(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()


def wanted_servers(pods: list[dict]) -> tuple[dict, list[str]]:
    """``({"<ns>/<pod>": {"ip", "port"}}, problems)`` of the service pods to serve."""
    wanted = {}
    running, problems = serving_pods(pods)
    for key, pod in running:
        ports = [p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                 for p in c.get("ports") or [] if p.get("containerPort")]
        if not ports:
            problems.append(f"{key}: no container port; not served")
            continue
        wanted[key] = {"ip": pod["status"]["podIP"], "port": int(ports[0])}
    return wanted, problems


# --- the supervisor ---------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _answer(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):  # noqa: N802 - the http.server interface
        if self.path.split("?", 1)[0] == "/health":
            self._answer(200, "application/json", b'{"status":"ok"}')
        else:
            self._answer(404, "application/json", _error(f"{self.path} is not served"))

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.split("?", 1)[0] != "/v1/audio/speech":
            self._answer(404, "application/json", _error(f"{self.path} is not served"))
            return
        self._answer(*speech(body))


def _log(msg: str) -> None:
    print(f"speech-servers supervisor: {msg}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.kube = Kubernetes(args.kubeconfig)
        self.served: dict[str, tuple[dict, ThreadingHTTPServer]] = {}
        self.stopping = False

    def reconcile(self) -> dict:
        pods = self.kube.api.sanitize_for_serialization(
            self.kube.core.list_pod_for_all_namespaces(label_selector=SELECTOR)).get("items") or []
        wanted, problems = wanted_servers(pods)
        for key in list(self.served):
            if wanted.get(key) != self.served[key][0]:
                _log(f"{key}: stopping its server (pod changed or gone)")
                self.served.pop(key)[1].shutdown()
        for key, server in wanted.items():
            if key in self.served:
                continue
            try:
                http = ThreadingHTTPServer((server["ip"], server["port"]), Handler)
            except OSError as exc:
                problems.append(f"{key}: cannot serve {server['ip']}:{server['port']}: {exc}")
                continue
            http.daemon_threads = True
            threading.Thread(target=http.serve_forever, daemon=True).start()
            self.served[key] = (server, http)
            _log(f"{key}: serving /v1/audio/speech on {server['ip']}:{server['port']}")
        return {"servers": {key: {**server, "healthy": True} for key, (server, _http) in self.served.items()},
                "problems": problems}

    def stop_all(self) -> None:
        for _server, http in self.served.values():
            http.shutdown()
        self.served = {}

    def loop(self) -> None:
        reconcile_until_stopped(self, "servers", "healthy", "not serving yet", "speech server(s)", POLL_INTERVAL, _log)


def run(argv=None) -> int:
    parser, _p_run = reconciler_parser(__doc__, "serve every service pod with the speech stand-in")
    supervisor = Supervisor(parser.parse_args(argv))
    return run_until_signalled(supervisor, supervisor.stop_all)


# --- the component ----------------------------------------------------------------------------------------------

def up(state: State, timeout: float = 60.0) -> dict:
    """Start the supervisor; already running and ready: nothing is done."""
    return up_reconciler(state, NAME, "testworld.speech_servers", None, None, SUBJECT, POLL_INTERVAL, timeout)


def down(state: State) -> None:
    stop_process(state, NAME)


def status(state: State) -> bool:
    return supervisor_status(state, NAME, reconciler_ready)


if __name__ == "__main__":
    sys.exit(run())
