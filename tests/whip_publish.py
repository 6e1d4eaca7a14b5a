"""A WHIP (RFC 9725) publisher on aiortc, a WebRTC stack not written by us:
a test pattern (H.264 through aiortc's libx264) and a tone (Opus), offered
with their candidates, answered by the server, sent for SECONDS seconds.

usage: whip_publish.py ENDPOINT STREAM_KEY SECONDS [--delete]

Prints "connected" once media flows. With --delete it ends the session with
DELETE when done; without, it just vanishes (like a phone losing its network).
"""
import asyncio
import sys
import urllib.error
import urllib.request

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer


def request(method, url, key, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + key)
    if body is not None:
        req.add_header("Content-Type", "application/sdp")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


async def publish(endpoint, key, seconds, delete):
    video = MediaPlayer("testsrc=size=640x360:rate=25", format="lavfi")
    audio = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
    pc = RTCPeerConnection()
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected":
            connected.set()

    pc.addTransceiver(audio.audio, direction="sendonly")
    transceiver = pc.addTransceiver(video.video, direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    transceiver.setCodecPreferences(h264)
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, body = request("POST", endpoint, key, pc.localDescription.sdp.encode())
    if status != 201:
        print("refused", status, body, flush=True)
        sys.exit(2)
    location = headers.get("Location") or headers.get("location")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    await asyncio.wait_for(connected.wait(), 15)
    print("connected", flush=True)
    await asyncio.sleep(seconds)
    if delete:
        base = endpoint.split("/live/")[0]
        status, _, _ = request("DELETE", base + location, key)
        print("deleted", status, flush=True)
    await pc.close()


if __name__ == "__main__":
    asyncio.run(publish(sys.argv[1], sys.argv[2], float(sys.argv[3]), "--delete" in sys.argv[4:]))
