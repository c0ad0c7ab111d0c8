"""A small OpenAI-compatible server for the benchmark and accuracy tests (stands in for the gateway + an engine).

It follows the OpenAI chat-completions wire format the engines behind the gateway speak (vLLM's and
SGLang's OpenAI servers): ``POST /v1/chat/completions`` with ``stream: true`` answers server-sent
events ``data: {chat.completion.chunk}`` ending in ``data: [DONE]``, and with
``stream_options.include_usage`` a last chunk with empty ``choices`` and ``usage``; without
``stream`` one ``chat.completion`` object with ``usage``. ``GET /v1/models`` lists the models.

Its timing is known: the first token comes ``ttft_ms + prompt_tokens / prefill_tps`` after the
request, every further token ``itl_ms`` later, one token per chunk. A prompt token is a
whitespace-separated word of the messages. With ``ignore_eos`` the reply has ``max_tokens`` tokens;
otherwise it is the canned answer for the prompt (``answers``: prompt -> text; the IFEval sample)
or ``max_tokens`` words.

Run as a process: ``python testworld/openai_server.py --port-file F --log F [--answers F] ...``;
every request is appended to the log as one JSON line (path, model, the bearer key it carried - this
is a test server: the tests check that key never shows in the jobs' output).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULTS = {"ttft_ms": 60.0, "prefill_tps": 4000.0, "itl_ms": 15.0, "usage": True, "models": ["test-model"],
            "answers": {}, "status": 200, "log": None}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    config: dict = DEFAULTS
    lock = threading.Lock()
    requests: list = []

    def log_message(self, fmt, *args):  # quiet
        return

    def _record(self, entry):
        with self.lock:
            self.requests.append(entry)
            if self.config.get("log"):
                with open(self.config["log"], "a") as handle:
                    handle.write(json.dumps(entry) + "\n")

    def _send(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _key(self):
        header = self.headers.get("Authorization", "")
        return header[len("Bearer "):] if header.startswith("Bearer ") else None

    def do_GET(self):
        authorized = self._key() is not None
        self._record({"path": self.path, "authorized": authorized, "method": "GET", "key": self._key()})
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in self.config["models"]]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        authorized = self._key() is not None
        self._record({"path": self.path, "authorized": authorized, "method": "POST", "model": body.get("model"),
                      "stream": bool(body.get("stream")), "host": self.headers.get("Host"), "key": self._key()})
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": "not found"}})
        if not authorized:
            return self._send(401, {"error": {"message": "missing key"}})
        # An unknown model is the gateway's 404 (no engine is involved); a configured failure is the engine's.
        if body.get("model") not in self.config["models"]:
            return self._send(404, {"error": {"message": "model %s not served" % body.get("model")}})
        if self.config["status"] != 200:
            return self._send(self.config["status"], {"error": {"message": "configured failure"}})
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        prompt_tokens = len(prompt.split())
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        answer = self.config["answers"].get(prompt.strip())
        if body.get("ignore_eos") or answer is None:
            words = ["tok"] * max_tokens
        else:
            words = answer.split(" ")[:max_tokens]
        time.sleep(self.config["ttft_ms"] / 1000.0 + prompt_tokens / self.config["prefill_tps"])
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                 "total_tokens": prompt_tokens + len(words)}
        if not body.get("stream"):
            time.sleep(self.config["itl_ms"] / 1000.0 * max(0, len(words) - 1))
            return self._send(200, {"id": "cmpl-1", "object": "chat.completion", "model": body["model"],
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": " ".join(words)}}],
                                    "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, word in enumerate(words):
            if index:
                time.sleep(self.config["itl_ms"] / 1000.0)
            text = word if index == 0 else " " + word
            self._chunk({"id": "cmpl-1", "object": "chat.completion.chunk", "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
        if self.config["usage"] and (body.get("stream_options") or {}).get("include_usage"):
            self._chunk({"id": "cmpl-1", "object": "chat.completion.chunk", "model": body["model"], "choices": [],
                         "usage": usage})
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _chunk(self, payload):
        self._write_chunk(("data: %s\n\n" % json.dumps(payload)).encode())

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 resets connections when a benchmark opens dozens at once

    def handle_error(self, request, client_address):
        """A client that closes its keep-alive connection is normal here; anything else is printed."""
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class ServerProcess:
    """The server as a child process (for playbook tests): ``url``, ``requests()``, ``stop()``."""

    def __init__(self, workdir, **options):
        import subprocess
        import sys
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "requests.jsonl"
        port_file = workdir / "port"
        for path in (self.log, port_file):
            if path.exists():
                path.unlink()
        argv = [sys.executable, __file__, "--port-file", str(port_file), "--log", str(self.log)]
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
        self.proc = subprocess.Popen(argv)
        for _attempt in range(100):
            if port_file.exists() and port_file.read_text():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("the test server did not start")
        self.port = int(port_file.read_text())
        self.url = "http://127.0.0.1:%d" % self.port

    def requests(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def serve(port=0, **config):
    """Start the server in a thread; returns (server, base_url). ``server.shutdown()`` stops it."""
    handler = type("ConfiguredHandler", (Handler,), {"config": dict(DEFAULTS, **config), "requests": []})
    server = _Server(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "http://127.0.0.1:%d" % server.server_address[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--models", default="test-model", help="comma-separated model ids")
    parser.add_argument("--answers", help="JSON file: prompt -> answer")
    parser.add_argument("--ttft-ms", type=float, default=DEFAULTS["ttft_ms"])
    parser.add_argument("--prefill-tps", type=float, default=DEFAULTS["prefill_tps"])
    parser.add_argument("--itl-ms", type=float, default=DEFAULTS["itl_ms"])
    parser.add_argument("--no-usage", action="store_true")
    parser.add_argument("--status", type=int, default=200, help="answer every chat request with this status")
    args = parser.parse_args()
    answers = json.loads(Path(args.answers).read_text()) if args.answers else {}
    server, url = serve(models=args.models.split(","), answers=answers, ttft_ms=args.ttft_ms,
                        prefill_tps=args.prefill_tps, itl_ms=args.itl_ms, usage=not args.no_usage,
                        status=args.status, log=args.log)
    Path(args.port_file).write_text(str(server.server_address[1]))
    threading.Event().wait()


if __name__ == "__main__":
    main()
