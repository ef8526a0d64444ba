/*
 * What OpenSSL itself costs per keep-alive request, with no sockets and no
 * server: a client and a server SSL over memory BIOs exchange one request
 * record and one response record (the sizes of bench/run.py's GET / and its
 * answer), N times. Each round trip is four record operations (client
 * encrypt, server decrypt, server encrypt, client decrypt); the server's
 * share is half. This is the floor under any OpenSSL-based server's HTTPS
 * keep-alive cost per request.
 *
 *   cc -O2 -o bench/.tls_record_cost bench/tls_record_cost.c -lssl -lcrypto
 *   taskset -c 0 bench/.tls_record_cost [TLS1.3-suite | 1.2] [N]
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A throwaway P-256 key and self-signed certificate. */
static void self_signed(SSL_CTX *ctx) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"bench", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_sign(x, key, EVP_sha256());
    if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
        fprintf(stderr, "cannot use the certificate\n");
        exit(1);
    }
    X509_free(x);
    EVP_PKEY_free(key);
}

int main(int argc, char **argv) {
    const char *suite = argc > 1 ? argv[1] : "TLS_AES_128_GCM_SHA256";
    int n = argc > 2 ? atoi(argv[2]) : 200000;
    int tls12 = strcmp(suite, "1.2") == 0;
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method()), *cc = SSL_CTX_new(TLS_client_method());
    self_signed(sc);
    if (tls12) {
        SSL_CTX_set_max_proto_version(cc, TLS1_2_VERSION);
    } else {
        SSL_CTX_set_ciphersuites(sc, suite);
        SSL_CTX_set_ciphersuites(cc, suite);
    }
    SSL *s = SSL_new(sc), *c = SSL_new(cc);
    BIO *to_client = BIO_new(BIO_s_mem()), *to_server = BIO_new(BIO_s_mem());
    BIO_up_ref(to_client);
    BIO_up_ref(to_server);
    SSL_set_bio(s, to_server, to_client);
    SSL_set_bio(c, to_client, to_server);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    for (int i = 0; i < 10 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); i++) {
        SSL_do_handshake(c);
        SSL_do_handshake(s);
    }
    char buf[4096];
    SSL_read(c, buf, sizeof(buf)); /* take the session tickets */
    ERR_clear_error();
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n";
    static const char res[] = "HTTP/1.1 200 OK\r\nDate: Wed, 02 Dec 2026 12:00:00 GMT\r\nContent-Length: 13\r\n\r\nHello, World!";
    double t0 = now();
    for (int i = 0; i < n; i++) {
        if (SSL_write(c, req, (int)sizeof(req) - 1) <= 0 || SSL_read(s, buf, sizeof(buf)) <= 0 ||
            SSL_write(s, res, (int)sizeof(res) - 1) <= 0 || SSL_read(c, buf, sizeof(buf)) <= 0) {
            fprintf(stderr, "record exchange failed\n");
            return 1;
        }
    }
    double per = (now() - t0) / n * 1e9;
    printf("%s %s (%s): %.0f ns per request round trip, about %.0f ns of it on the server side\n",
           SSL_get_version(s), SSL_CIPHER_get_name(SSL_get_current_cipher(s)), OpenSSL_version(OPENSSL_VERSION), per,
           per / 2);
    SSL_free(s);
    SSL_free(c);
    SSL_CTX_free(sc);
    SSL_CTX_free(cc);
    return 0;
}
