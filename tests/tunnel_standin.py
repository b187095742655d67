"""What a `kubectl port-forward` does, for the tunnel's tests: relay 127.0.0.1:LOCAL to 127.0.0.1:REMOTE
until killed. Usage: python tests/tunnel_standin.py LOCAL REMOTE"""

from __future__ import annotations

import sys
import threading

from statehub.data.tcp_relay import relaying

if __name__ == "__main__":
    local, remote = int(sys.argv[1]), int(sys.argv[2])
    with relaying(("127.0.0.1", remote), port=local):
        threading.Event().wait()
