"""What a monitor may follow: a URL of a streaming protocol with a host, or a file under a
server folder the admin allows (``--allow-path``), as scans take server paths.

FFmpeg opens far more than network streams: ``file:``, ``concat:``, ``subfile:``, ``pipe:``,
``fd:``, ``data:``, ``crypto:``, ``cache:``, ``tee:`` and others read (or write) local files
and descriptors, or wrap another URL. A source is therefore checked against a short list of
schemes rather than against a list of bad ones: anything that looks like ``scheme:`` and is
not on it is refused, whatever FFmpeg would make of it. A path is resolved with
``files.resolve_allowed`` (``realpath`` first, so that ``..`` and symlinks cannot leave the
allowed folders), and the monitor keeps the resolved path, which the watch opens as a file
(``live.chunks.open_source``): never as a protocol, whatever the file is called.

A URL makes the server connect where the scanner says: to a database on loopback, a cloud
metadata address or a host of the private network, whose answers (or silence) the
monitor's errors would tell. So a URL's host must resolve to public addresses alone,
unless the admin allows its network (``--allow-source-network 10.1.0.0/16``: an encoder
on the operator's own network, a multicast group of an IPTV head-end). Left open: FFmpeg
resolves the name again when it connects, so a name whose DNS answer changes between the
two (rebinding) is not stopped here; a deployment that must be sure puts the service
behind an egress firewall.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from urllib.parse import urlsplit

from .files import FileRejected, resolve_allowed

URL_SCHEMES = ("http", "https", "rtmp", "rtmps", "rtsp", "srt", "udp")
"""HLS and HTTP streams, RTMP(S), RTSP, SRT and MPEG-TS over UDP."""
MAX_SOURCE = 2048
MAX_NAME = 200
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*[:,]")
"""How URLs and FFmpeg begin a protocol: ``http:``, ``concat:``, and ``name,options:``
(``subfile,,start,0,end,9,,:path``). A path must not begin so (an absolute one does not)."""
NOT_A_SOURCE = (f"source must be a {', '.join(URL_SCHEMES)} URL with a host, "
                "or a file under a folder this server allows")  # fmt: skip


def check_source(source: str, allowed_paths: list[str], networks: tuple[str, ...] = ()) -> str:
    """``source`` as the monitor will open it, or FileRejected with a one-line reason: 400
    for anything that is neither an accepted URL nor a path, or a host that does not
    resolve; 403 for a host on an address that is not public, outside ``networks`` (CIDR),
    and for a path outside the allowed folders (or when none is allowed); 404 for a
    missing file, as for scans."""
    source = source.strip()
    if not source or len(source) > MAX_SOURCE:
        raise FileRejected(400, f"source must be 1-{MAX_SOURCE} characters")
    if any(not c.isprintable() for c in source):
        raise FileRejected(400, "source must not contain control characters")
    if SCHEME.match(source):
        host = url_host(source, URL_SCHEMES)  # a "name," prefix gives no scheme: refused
        if host is None:
            raise FileRejected(400, NOT_A_SOURCE)
        check_host(host, networks)
        return source
    if "://" in source:  # the watch would take it for a URL
        raise FileRejected(400, NOT_A_SOURCE)
    return resolve_allowed(source, allowed_paths)


def url_host(url: str, schemes: tuple[str, ...]) -> str | None:
    """The host of ``url`` when it is a URL of one of ``schemes`` with a host, a numeric port
    if any, and no space; else None."""
    parts = urlsplit(url)
    try:
        host, _ = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        return None
    if parts.scheme.lower() not in schemes or not parts.netloc or not host or " " in url:
        return None
    return host


def check_host(host: str, networks: tuple[str, ...], what: str = "source") -> None:
    """FileRejected unless every address ``host`` resolves to is public or in ``networks``;
    ``what`` the host is (a monitor's source, a webhook) names it in the message."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        raise FileRejected(400, f"{what} host does not resolve") from None
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        public = address.is_global and not address.is_multicast
        if not public and not any(address in network for network in allowed):
            raise FileRejected(403, f"{what} host is not on a public address; the admin may allow its network "
                                    "(--allow-source-network)")  # fmt: skip


def default_name(source: str) -> str:
    """A monitor's name when none is given: the URL without its user, password and query
    (which may hold secrets, and the name is shown to the owners of the works it finds), or
    the file's name."""
    if SCHEME.match(source):
        parts = urlsplit(source)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return clean_name(f"{parts.scheme}://{host}{port}{parts.path}")
    return clean_name(os.path.basename(source))


def clean_name(name: str) -> str:
    """A name for display: printable, on one line, at most ``MAX_NAME`` characters."""
    return "".join(c for c in name if c.isprintable()).strip()[:MAX_NAME] or "monitor"
