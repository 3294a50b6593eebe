"""A real HTTP server on loopback that speaks OpenAI's chat-completions protocol with scripted answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# script(messages, request_number) -> (HTTP status, reply text) or (200, body, content type) for a raw body
Script = Callable[[list[dict], int], tuple]


class FakeOpenAI:
    """`models`: what GET /v1/models lists (None: no such route, HTTP 404)."""

    def __init__(self, script: Script, models: list[str] | None = ("scripted",)) -> None:
        self.script = script
        self.models = None if models is None else list(models)
        self.requests: list[dict] = []
        self.arrived: list[float] = []       # time.monotonic() of each POST, in arrival order
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):   # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 (http.server API)
                if self.path.endswith("/models") and owner.models is not None:
                    return self._send(200, {"object": "list", "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "test"} for m in owner.models]})
                return self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):  # noqa: N802 (http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.arrived.append(time.monotonic())
                    owner.requests.append(body)
                    owner.auth_headers.append(self.headers.get("Authorization", ""))
                    number = len(owner.requests)
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                answer = owner.script(body["messages"], number)
                if len(answer) == 3:                     # a raw body (e.g. an HTML error page from a proxy)
                    return self._send_raw(answer[0], answer[1].encode(), answer[2])
                status, text = answer
                if status != 200:
                    return self._send(status, {"error": {"message": text, "type": "scripted", "code": status}})
                words = sum(len(m["content"].split()) for m in body["messages"])
                return self._send(200, {
                    "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": words, "completion_tokens": len(text.split()),
                              "total_tokens": words + len(text.split())}})

            def _send(self, status: int, payload: dict) -> None:
                self._send_raw(status, json.dumps(payload).encode(), "application/json")

            def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):   # the client gave up (a timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def kind(messages: list[dict]) -> str:
    system = messages[0]["content"]
    if "Summarise" in system:
        return "generation"
    return "fuzzing" if "marked like" in system and "In some excerpts" in system else "detection"


def excerpts(messages: list[dict]) -> list[str]:
    """The numbered excerpts of a scoring prompt."""
    body = messages[-1]["content"].split("Here are the excerpts:\n\n", 1)[1]
    out = []
    for line in body.split("\n"):
        head, _, rest = line.partition(". ")
        if head.isdigit():
            out.append(rest)
        elif out:
            out[-1] += "\n" + line
    return out


def steady(messages: list[dict], n: int) -> tuple[int, str]:
    """A deterministic judge script (no 429, nothing malformed): the same prompts get the same answers."""
    if kind(messages) == "generation":
        return 200, "This neuron activates on common story words."
    return 200, ", ".join(str(i + 1) for i in range(0, len(excerpts(messages)), 2)) or "None"
