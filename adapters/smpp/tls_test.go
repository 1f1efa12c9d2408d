package smpp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smsc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestClientBindsOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	smsc, err := NewSMSC(SMSCConfig{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	go smsc.Serve(ln)
	t.Cleanup(func() { smsc.Close() })
	var dl deliveries
	c := runClient(t, ClientConfig{Addr: ln.Addr().String(), SystemID: "a", TLS: true,
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, OnDeliver: dl.add})
	res, err := c.Submit(ctxT(t), Submission{Ref: uuid.New(), Source: "Z", Dest: "244990000001", Text: "over TLS"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the receipt", func() bool { return dl.receipts()[res.MessageIDs[0]] != nil })

	// A client that does not trust the certificate never binds.
	plain := runClient(t, ClientConfig{Addr: ln.Addr().String(), SystemID: "b", TLS: true, ReconnectMin: 10 * time.Millisecond})
	ctx, cancel := contextWithTimeout(200 * time.Millisecond)
	defer cancel()
	if _, err := plain.Submit(ctx, Submission{Ref: uuid.New(), Source: "Z", Dest: "1", Text: "x"}); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	if st := smsc.Stats(); st.Binds != 1 {
		t.Fatalf("binds %d", st.Binds)
	}
}
