"""A TLS handshake and one record between a client and a server in this process, through
memory BIOs (no sockets): the OpenSSL calls the ssl tools in examples/tools trace.
Usage: tls_handshake.py CERT.pem KEY.pem"""
import ssl
import sys

server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server.load_cert_chain(sys.argv[1], sys.argv[2])
client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client.check_hostname = False
client.verify_mode = ssl.CERT_NONE
to_client, from_client, to_server, from_server = (ssl.MemoryBIO() for _ in range(4))
c = client.wrap_bio(to_client, from_client)
s = server.wrap_bio(to_server, from_server, server_side=True)
for _ in range(10):
    for end in (c, s):
        try:
            end.do_handshake()
        except ssl.SSLWantReadError:
            pass
    to_server.write(from_client.read())
    to_client.write(from_server.read())
c.write(b"hello")
to_server.write(from_client.read())
assert s.read() == b"hello"
