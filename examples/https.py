"""HTTPS (and WSS) on 127.0.0.1:3443 with a certificate made on first run.

The certificate is self-signed for "localhost" and 127.0.0.1 and kept in
./tls-example/ (or $TLS_DIR); trust it explicitly, e.g.
    curl --cacert tls-example/cert.pem https://localhost:3443/
PORT and HOST may be set in the environment. Making the certificate needs the
`cryptography` package (pip install cryptography); serving needs only OpenSSL.
"""

import datetime
import ipaddress
import os

from socketify_cy import App, AppListenOptions, AppOptions


def make_certificate(directory):
    """A P-256 key and a one-year self-signed certificate; written once."""
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        return cert_path, key_path
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
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(directory, exist_ok=True)
    # The key is written owner-only before any byte of it goes in.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


cert, key = make_certificate(os.environ.get("TLS_DIR", "tls-example"))
app = App(AppOptions(key_file_name=key, cert_file_name=cert))
app.get("/", lambda res, req: res.end("Hello, TLS!"))
app.ws("/ws", {"message": lambda ws, message, opcode: ws.send(message, opcode)})
app.listen(
    AppListenOptions(port=int(os.environ.get("PORT", 3443)), host=os.environ.get("HOST", "127.0.0.1")),
    lambda config: print("Listening on https://%s:%d (certificate: %s)" % (config.host, config.port, cert),
                         flush=True),
)
app.run()
