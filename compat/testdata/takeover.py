"""Session endings seen by raw MQTT clients on Python's ssl module.

Usage: python3 takeover.py JSON   with host, port, cafile, cert, key,
client_id, username, version (4 = MQTT 3.1.1, 5), count, mode ("sequential",
"storm" or "single"), timeout (seconds), and for "single" an optional
publish {topic, qos, retain, size}.

Every connection logs in with the same ClientId and username. sequential:
connection i+1 logs in once connection i has its CONNACK, then connection i
is read to its end. storm: all connections send CONNECT at the same instant
and each is read until it ends or the timeout passes. single: one
connection logs in, prints {"ready": true} once it has its CONNACK, sends
the publish if there is one, and is read until it ends (whatever ends it:
the test acts on "ready"). One JSON line per connection: the packets the
server sent (type, and the reason code of CONNACK, DISCONNECT and an MQTT 5
PUBACK) and how the TLS stream ended:
  close_notify   the server closed TLS cleanly
  eof            TCP closed without close_notify
  bad_record_mac a record could not be decrypted (a corrupt stream)
  tls_error      another TLS error (text in "error")
  reset          TCP reset
  open           still open when the timeout passed (the surviving session)
"""
import json
import socket
import ssl
import struct
import sys
import threading
import time

cfg = json.loads(sys.argv[1])


def context():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(cfg["cafile"])
    c.check_hostname = False
    c.load_cert_chain(cfg["cert"], cfg["key"])
    return c


def mqtt_string(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def remaining_length(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def connect_packet():
    v = cfg["version"]
    body = mqtt_string("MQTT") + bytes([v, 0x80 | 0x02]) + struct.pack("!H", 120)
    if v == 5:
        body += b"\x00"  # no properties
    body += mqtt_string(cfg["client_id"]) + mqtt_string(cfg["username"])
    return bytes([0x10]) + remaining_length(len(body)) + body


def parse(buf):
    """Splits what the server sent into packets; a torn tail is a packet of type -1."""
    out, i = [], 0
    while i < len(buf):
        typ, j, n, mult = buf[i] >> 4, i + 1, 0, 1
        while j < len(buf):
            n += (buf[j] & 0x7F) * mult
            mult *= 128
            j += 1
            if not buf[j - 1] & 0x80:
                break
        else:
            out.append({"type": -1})
            return out
        if j + n > len(buf):
            out.append({"type": -1})
            return out
        body = buf[j:j + n]
        p = {"type": typ}
        if typ == 2 and len(body) >= 2:  # CONNACK: flags, code
            p["code"] = body[1]
        if typ == 14:  # DISCONNECT: v5 reason code (0 when absent)
            p["code"] = body[0] if body else 0
        if typ == 4:  # PUBACK: v5 reason code after the packet ID (0 when absent)
            p["code"] = body[2] if len(body) > 2 else 0
        out.append(p)
        i = j + n
    return out


def publish_packet(p):
    v = cfg["version"]
    body = mqtt_string(p["topic"])
    if p["qos"] > 0:
        body += struct.pack("!H", 1)  # packet ID
    if v == 5:
        body += b"\x00"  # no properties
    body += b"x" * p["size"]
    flags = (p["qos"] << 1) | (1 if p["retain"] else 0)
    return bytes([0x30 | flags]) + remaining_length(len(body)) + body


class Conn:
    def __init__(self, i):
        self.i = i
        raw = socket.create_connection((cfg["host"], cfg["port"]), timeout=cfg["timeout"])
        self.s = context().wrap_socket(raw, suppress_ragged_eofs=False)
        self.buf = b""
        self.end = None
        self.error = ""

    def send_connect(self):
        self.s.sendall(connect_packet())

    def read_until_connack(self):
        while not any(p["type"] == 2 for p in parse(self.buf)) and self.end is None:
            self.read_once()

    def read_to_end(self, deadline):
        while self.end is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.end = "open"
                return
            self.s.settimeout(left)
            self.read_once()

    def read_once(self):
        try:
            b = self.s.recv(65536)
        except socket.timeout:
            self.end = "open"
            return
        except ssl.SSLEOFError:
            self.end = "eof"
            return
        except ssl.SSLError as e:
            text = str(e).lower()
            self.end = "bad_record_mac" if ("bad record mac" in text or "decryption failed" in text) else "tls_error"
            self.error = str(e)
            return
        except ConnectionResetError:
            self.end = "reset"
            return
        except OSError as e:
            self.end, self.error = "tls_error", str(e)
            return
        if not b:
            self.end = "close_notify"
            return
        self.buf += b

    def report(self):
        print(json.dumps({"i": self.i, "packets": parse(self.buf), "end": self.end, "error": self.error}), flush=True)
        try:
            self.s.close()
        except OSError:
            pass


def sequential():
    prev = Conn(0)
    prev.send_connect()
    prev.read_until_connack()
    for i in range(1, cfg["count"]):
        cur = Conn(i)
        cur.send_connect()
        cur.read_until_connack()
        prev.read_to_end(time.monotonic() + cfg["timeout"])
        prev.report()
        prev = cur
    prev.read_to_end(time.monotonic() + 0.5)  # the last one keeps its session
    prev.report()


def storm():
    conns = [Conn(i) for i in range(cfg["count"])]  # TLS first, so that CONNECTs race
    go = threading.Barrier(len(conns))
    deadline = time.monotonic() + cfg["timeout"]

    def run(c):
        go.wait()
        c.send_connect()
        c.read_to_end(deadline)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in conns:
        c.report()


def single():
    c = Conn(0)
    c.send_connect()
    c.read_until_connack()
    print(json.dumps({"ready": True}), flush=True)
    if cfg.get("publish"):
        try:
            c.s.sendall(publish_packet(cfg["publish"]))
        except OSError as e:  # the server may end the session while we write
            c.error = "publish: " + str(e)
    c.read_to_end(time.monotonic() + cfg["timeout"])
    c.report()


{"sequential": sequential, "storm": storm, "single": single}[cfg["mode"]]()
