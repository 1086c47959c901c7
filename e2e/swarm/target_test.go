package swarm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hoist finds the manager as the docker CLI would: a docker context
// (named by DOCKER_CONTEXT, or the current one), and TLS with client
// certificates, from the environment or from a context. The TLS end is a
// proxy of the test's own on 127.0.0.1 that requires a client
// certificate signed by the test's CA and forwards to the manager's
// socket; it counts the connections whose certificate it verified.
func TestContextsAndTLS(t *testing.T) {
	b := needBed(t)
	pr := newProject(t, b, "hoist-e2e-target", map[string]string{})
	certs := t.TempDir()
	addr, verified := tlsProxy(t, certs, strings.TrimPrefix(b.Manager, "unix://"))
	cfg := t.TempDir()
	dockerCfg := func(args ...string) {
		t.Helper()
		cmd := exec.Command("docker", append([]string{"--config", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST=", "DOCKER_CONTEXT=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dockerCfg("context", "create", "bed", "--docker", "host="+b.Manager)
	dockerCfg("context", "create", "bed-tls", "--docker", "host=tcp://"+addr+",ca="+certs+"/ca.pem,cert="+certs+"/cert.pem,key="+certs+"/key.pem")

	ls := func(env ...string) result {
		t.Helper()
		pr.env = append([]string{"DOCKER_CONFIG=" + cfg}, env...)
		defer func() { pr.env = nil }()
		return pr.hoistOn("", "ls")
	}
	works := func(what string, r result) {
		t.Helper()
		if r.err != nil || !strings.HasPrefix(r.stdout, "NAME") {
			t.Errorf("%s: %v\n%s%s", what, r.err, r.stdout, r.stderr)
		}
	}
	works("DOCKER_CONTEXT=bed", ls("DOCKER_CONTEXT=bed"))
	dockerCfg("context", "use", "bed")
	works("the current context bed", ls())

	before := verified.Load()
	works("DOCKER_CONTEXT=bed-tls", ls("DOCKER_CONTEXT=bed-tls"))
	if verified.Load() == before {
		t.Errorf("hoist reached the manager through context bed-tls without a verified client certificate")
	}
	before = verified.Load()
	works("DOCKER_HOST with DOCKER_TLS_VERIFY", ls("DOCKER_HOST=tcp://"+addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+certs))
	if verified.Load() == before {
		t.Errorf("hoist reached the manager through DOCKER_TLS_VERIFY without a verified client certificate")
	}
	// Without TLS the proxy answers nothing hoist can use, and hoist says
	// where it tried.
	if r := ls("DOCKER_HOST=tcp://" + addr); r.err == nil || !strings.Contains(r.stderr, addr) {
		t.Errorf("plain HTTP to the TLS end: %v\n%s", r.err, r.stderr)
	}
}

// tlsProxy writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (ca.pem, cert.pem, key.pem, as DOCKER_CERT_PATH holds them)
// to dir, and serves TLS on 127.0.0.1, requiring a client certificate of
// that CA, forwarding each connection to the unix socket sock.
func tlsProxy(t *testing.T, dir, sock string) (string, *atomic.Int64) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hoist test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "hoist test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	keyPEM := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("EC PRIVATE KEY", der)
	}
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth)
	for name, data := range map[string][]byte{"ca.pem": pemOf("CERTIFICATE", caDER), "cert.pem": pemOf("CERTIFICATE", cliDER), "key.pem": keyPEM(cliKey)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srvCert, err := tls.X509KeyPair(pemOf("CERTIFICATE", srvDER), keyPEM(srvKey))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var verified atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil || len(tc.ConnectionState().VerifiedChains) == 0 {
					return
				}
				verified.Add(1)
				up, err := net.Dial("unix", sock)
				if err != nil {
					return
				}
				defer up.Close()
				// Either side's end ends both copies.
				go func() { io.Copy(up, tc); up.Close() }()
				io.Copy(tc, up)
			}()
		}
	}()
	return ln.Addr().String(), &verified
}
