"""apps.common.outbound: the address actually connected to is checked, redirects are answers, deadlines hold."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.common import outbound


class Server:
    """A real HTTP server on 127.0.0.1 that records requests and answers `status` (+ `location`)."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append({"host": self.headers["Host"], "path": self.path, "body": body})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REFUSED_BY_DEFAULT = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.1.1",  # link-local
    "100.64.0.1",  # shared (carrier-grade NAT)
    "fc00::1",  # unique-local
    "fd12:3456::1",
    "fe80::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
]
ALWAYS_REFUSED = [
    "169.254.169.254",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "169.254.170.2",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated, in the reserved ::/8)
]


@pytest.mark.parametrize("address", REFUSED_BY_DEFAULT)
def test_loopback_private_link_local_and_embedded_addresses_are_refused_unless_allowed(address):
    ip = ipaddress.ip_address(address)
    assert outbound.refusal(ip, allow_private=False) == outbound.REFUSED
    assert outbound.refusal(ip, allow_private=True) is None


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_metadata_unspecified_multicast_and_reserved_addresses_are_refused_even_when_private_is_allowed(
    address,
):
    ip = ipaddress.ip_address(address)
    assert outbound.refusal(ip, allow_private=False) is not None
    assert outbound.refusal(ip, allow_private=True) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert outbound.refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_a_receiver_on_loopback_is_refused_by_default_and_never_contacted(server, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(outbound.AddressRefused):
        outbound.request("POST", f"http://127.0.0.1:{server.port}/hook", body=b"{}")
    assert server.requests == []


def test_the_setting_opens_private_networks_and_the_request_arrives(server, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    response = outbound.request("POST", f"http://127.0.0.1:{server.port}/hook?x=1", body=b"{}")
    assert (response.status, response.body) == (200, b"ok")
    assert server.requests == [{"host": f"127.0.0.1:{server.port}", "path": "/hook?x=1", "body": b"{}"}]


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal 127.0.0.1
        "0x7f000001",  # hex
        "0177.0.0.1",  # octal
        "017700000001",
        "127.1",
        "[::ffff:127.0.0.1]",
        "localhost",  # a name that resolves to 127.0.0.1
    ],
)
def test_encoded_forms_and_names_of_loopback_are_refused_after_resolution(server, settings, host):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(outbound.AddressRefused):
        outbound.request("POST", f"http://{host}:{server.port}/hook", body=b"{}")
    assert server.requests == []


def test_a_name_is_resolved_once_and_connected_to_by_address_with_its_host_header(server, settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    resolved = []
    real = socket.getaddrinfo

    def counting(*args, **kwargs):
        resolved.append(args[0])
        return real(*args, **kwargs)

    socket.getaddrinfo = counting
    try:
        assert outbound.request("GET", f"http://localhost:{server.port}/").status == 200
    finally:
        socket.getaddrinfo = real
    assert resolved == ["localhost"]
    assert server.requests[0]["host"] == f"localhost:{server.port}"


def test_the_metadata_address_stays_refused_when_private_networks_are_allowed(settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://2852039166/"):
        with pytest.raises(outbound.AddressRefused, match="metadata"):
            outbound.request("GET", url)


def test_redirects_are_returned_not_followed_even_to_an_allowed_address(settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    inside = Server()
    door = Server(status=302, location=f"http://127.0.0.1:{inside.port}/admin")
    try:
        response = outbound.request("POST", f"http://127.0.0.1:{door.port}/hook", body=b"{}")
        assert response.status == 302 and response.headers["location"].endswith("/admin")
        assert len(door.requests) == 1 and inside.requests == []
    finally:
        door.close()
        inside.close()


def test_a_closed_port_a_silent_port_and_an_unknown_name_give_the_same_answer(settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    # A silent (filtered-like) port: a listener whose backlog is full, so the kernel drops new SYNs.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(silent.getsockname())
        fillers.append(filler)
    messages = set()
    try:
        for url in (
            f"http://127.0.0.1:{closed_port()}/",
            f"http://127.0.0.1:{silent.getsockname()[1]}/",
            "http://no-such-host.invalid/",
        ):
            started = time.monotonic()
            with pytest.raises(outbound.Unreachable) as caught:
                outbound.request("POST", url, body=b"{}", timeout=1)
            assert time.monotonic() - started < 3
            messages.add(str(caught.value))
    finally:
        for s in [silent, *fillers]:
            s.close()
    assert messages == {"could not be reached"}


def test_a_server_that_trickles_its_answer_is_cut_off_at_the_deadline(settings):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.is_set():  # one header byte every 0.2 s: each read is quick, the whole is not
            try:
                conn.sendall(b"X")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(outbound.Timeout, match="did not answer within 1 s"):
            outbound.request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=1)
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        listener.close()


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return tmp_path / "cert.pem", tmp_path / "key.pem"


def test_https_sends_the_name_as_sni_and_refuses_an_untrusted_certificate(settings, tmp_path):
    settings.BM_WEBHOOK_ALLOW_PRIVATE = True
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(outbound.TLSFailure):
            outbound.request("POST", f"https://localhost:{listener.getsockname()[1]}/", body=b"{}", timeout=3)
        thread.join(5)
        assert names == ["localhost"]
    finally:
        listener.close()


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///path", "http://example.com:99999/"])
def test_urls_that_are_not_http_or_have_no_valid_host_are_not_requested(url):
    with pytest.raises(outbound.Unreachable):
        outbound.request("GET", url)
