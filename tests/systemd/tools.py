"""Tiny static C programs the systemd tests put into images: an sd_notify sender and a
socket-activated server (busybox has neither). Built with gcc at test time, never committed."""

from __future__ import annotations

import subprocess
from pathlib import Path

SDNOTIFY_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
/* sdnotify MSG...: one datagram "MSG\nMSG..." to $NOTIFY_SOCKET (path or @abstract) */
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) { fprintf(stderr, "sdnotify: no NOTIFY_SOCKET\n"); return 3; }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof(addr.sun_path)) return 4;
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = 0;
    char msg[4096] = "";
    for (int i = 1; i < argc; i++) {
        if (i > 1) strncat(msg, "\n", sizeof(msg) - strlen(msg) - 1);
        strncat(msg, argv[i], sizeof(msg) - strlen(msg) - 1);
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&addr,
               offsetof(struct sockaddr_un, sun_path) + len) < 0) { perror("sdnotify"); return 5; }
    return 0;
}
"""

ACTIVATED_C = r"""
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* activated N: answer N connections, on any LISTEN_FDS socket, with what it was given */
int main(int argc, char **argv) {
    int serve = argc > 1 ? atoi(argv[1]) : 1;
    const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID"), *names = getenv("LISTEN_FDNAMES");
    int n = fds ? atoi(fds) : 0;
    char report[4096];
    int len = snprintf(report, sizeof report, "pid=%d LISTEN_PID=%s LISTEN_FDS=%s LISTEN_FDNAMES=%s",
                       (int)getpid(), pid ? pid : "-", fds ? fds : "-", names ? names : "-");
    struct pollfd p[16];
    for (int i = 0; i < n && i < 16; i++) {
        struct sockaddr_in a; socklen_t l = sizeof a;
        getsockname(3 + i, (struct sockaddr *)&a, &l);
        len += snprintf(report + len, sizeof report - len, " fd%d=%d", 3 + i, ntohs(a.sin_port));
        p[i].fd = 3 + i; p[i].events = POLLIN;
    }
    len += snprintf(report + len, sizeof report - len, "\n");
    fputs(report, stdout); fflush(stdout);
    while (serve-- > 0 && n > 0) {
        if (poll(p, n, -1) < 0) return 2;
        for (int i = 0; i < n; i++) {
            if (!(p[i].revents & POLLIN)) continue;
            int c = accept(p[i].fd, NULL, NULL);
            if (c < 0) return 3;
            char line[64]; int k = snprintf(line, sizeof line, "via fd%d: ", 3 + i);
            write(c, line, k); write(c, report, len); close(c);
            break;
        }
    }
    return 0;
}
"""


def build(out_dir: Path) -> dict[str, bytes]:
    """{"sdnotify": ELF bytes, "activated": ELF bytes}, statically linked."""
    out = {}
    for name, source in (("sdnotify", SDNOTIFY_C), ("activated", ACTIVATED_C)):
        src, exe = out_dir / f"{name}.c", out_dir / name
        src.write_text("#include <stddef.h>\n" + source)
        subprocess.run(["gcc", "-static", "-O2", "-o", str(exe), str(src)], check=True,
                       capture_output=True, timeout=120)
        out[name] = exe.read_bytes()
    return out
