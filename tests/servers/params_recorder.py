#!/usr/bin/env python3
"""params_recorder.py SOCKET OUT BODY_FILE: a one-request-at-a-time FastCGI
responder on a unix socket that writes every request's parameters to OUT
(one NAME=VALUE a line, a blank line after each request) and answers
BODY_FILE's content as application/json. Prints READY once listening. For
checking what fpmstat sends (tests/it_opcache.sh)."""
import os
import socket
import struct
import sys

path, out_path, body_path = sys.argv[1:4]
body = open(body_path, "rb").read()
if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(16)
print("READY", flush=True)


def read_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def pairs(data):
    i = 0
    while i < len(data):
        lens = []
        for _ in range(2):
            b = data[i]
            if b < 128:
                lens.append(b)
                i += 1
            else:
                lens.append(struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF)
                i += 4
        name = data[i:i + lens[0]]
        value = data[i + lens[0]:i + lens[0] + lens[1]]
        i += lens[0] + lens[1]
        yield name, value


def record(c, rtype, rid, content):
    c.sendall(struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content)


while True:
    c, _ = srv.accept()
    params = b""
    try:
        while True:
            ver, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", read_exact(c, 8))
            content = read_exact(c, clen + plen)[:clen]
            if rtype == 4:
                params += content
            elif rtype == 5 and clen == 0:
                break
        with open(out_path, "ab") as f:
            for name, value in pairs(params):
                f.write(name + b"=" + value + b"\n")
            f.write(b"\n")
        record(c, 6, rid, b"Content-Type: application/json\r\n\r\n" + body)
        record(c, 6, rid, b"")
        record(c, 3, rid, struct.pack(">IB3x", 0, 0))
    except (EOFError, OSError):
        pass
    c.close()
