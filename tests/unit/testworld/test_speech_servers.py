"""The text-to-speech stand-in's answers and pod selection (testworld/speech_servers.py)."""

from __future__ import annotations

import io
import json
import wave

from testworld.speech_servers import RATE, speech, wanted_servers


def test_speech_is_a_playable_wav_whose_length_follows_the_input():
    status, content_type, payload = speech(json.dumps({"model": "magpie", "input": "Hello there", "voice": "a",
                                                       "response_format": "wav"}).encode())
    assert (status, content_type) == (200, "audio/wav")
    with wave.open(io.BytesIO(payload)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, RATE)
        assert abs(audio.getnframes() / RATE - 0.06 * len("Hello there")) < 0.001


def test_speed_shortens_the_audio_and_pcm_is_the_bare_samples():
    _s, _t, normal = speech(json.dumps({"input": "abcd", "response_format": "pcm"}).encode())
    _s, _t, fast = speech(json.dumps({"input": "abcd", "response_format": "pcm", "speed": 2}).encode())
    assert len(fast) * 2 == len(normal) and not normal.startswith(b"RIFF")


def test_bad_requests_name_the_field_and_what_is_allowed():
    assert b"allowed: wav, pcm" in speech(json.dumps({"input": "x", "response_format": "mp3"}).encode())[2]
    assert speech(json.dumps({"input": ""}).encode())[0] == 400
    assert b"0.25 to 4.0" in speech(json.dumps({"input": "x", "speed": 9}).encode())[2]
    assert speech(b"not json")[0] == 400


def test_only_running_service_pods_on_loopback_are_served():
    def pod(name, ip, phase="Running", ports=({"containerPort": 8000},)):
        return {"metadata": {"namespace": "ns", "name": name}, "status": {"phase": phase, "podIP": ip},
                "spec": {"containers": [{"ports": list(ports)}]}}
    wanted, problems = wanted_servers([pod("a", "127.1.0.5"), pod("b", "10.0.0.5"), pod("c", "127.1.0.6", "Pending"),
                                       pod("d", "127.1.0.7", ports=())])
    assert wanted == {"ns/a": {"ip": "127.1.0.5", "port": 8000}}
    assert any("ns/b" in p and "not in 127.0.0.0/8" in p for p in problems) and any("ns/d" in p for p in problems)
