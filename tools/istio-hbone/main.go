// Command istio-hbone drives Istio's own HBONE code (istio.io/istio/pkg/hbone) against this
// project's, for the interop test (packages/hbone-core/test/istio-interop.test.ts). Built by the
// set-up (`npm run setup`, scripts/setup/steps.mjs) into its tools directory from the Go module
// proxy; only go.mod/go.sum pin it here, nothing of Istio's is kept in this repository.
//
//	istio-hbone client -addr <hbone host:port> -target <ip:port> -cert <chain.pem> -key <key.pem> -root <root.pem> -message <text>
//	    dials through the HBONE server, writes the message, prints what comes back until EOF
//	istio-hbone server -addr <listen host:port> -cert <chain.pem> -key <key.pem> -root <root.pem>
//	    serves HBONE over mutual TLS 1.3; prints "listening <port>", then runs until killed
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"istio.io/istio/pkg/hbone"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: istio-hbone client|server [flags]"))
	}
	mode := os.Args[1]
	flags := flag.NewFlagSet(mode, flag.ExitOnError)
	addr := flags.String("addr", "", "HBONE server address (client) or listen address (server)")
	target := flags.String("target", "", "client: the tunnel's destination, ip:port")
	certFile := flags.String("cert", "", "certificate chain, PEM")
	keyFile := flags.String("key", "", "private key, PEM")
	rootFile := flags.String("root", "", "mesh root, PEM")
	message := flags.String("message", "hello from istio.io/istio/pkg/hbone", "client: what to send")
	_ = flags.Parse(os.Args[2:])

	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fail(err)
	}
	rootPem, err := os.ReadFile(*rootFile)
	if err != nil {
		fail(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPem) {
		fail(errors.New("no root certificate in " + *rootFile))
	}

	switch mode {
	case "client":
		runClient(*addr, *target, *message, clientTLS(pair, roots))
	case "server":
		runServer(*addr, serverTLS(pair, roots))
	default:
		fail(fmt.Errorf("unknown mode %q", mode))
	}
}

// Mesh peers carry SPIFFE URI SANs, no DNS names: verify the chain against the mesh root only.
func clientTLS(pair tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{pair},
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{"h2"},
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots, x509.ExtKeyUsageServerAuth)
		},
	}
}

func serverTLS(pair tls.Certificate, roots *x509.CertPool) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{"h2"},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	}
}

func verifyChain(raw [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(raw) == 0 {
		return errors.New("no peer certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, der := range raw {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func runClient(addr, target, message string, config *tls.Config) {
	dialer := hbone.NewDialer(hbone.Config{ProxyAddress: addr, TLS: config})
	conn, err := dialer.Dial("tcp", target)
	if err != nil {
		fail(err)
	}
	if _, err := conn.Write([]byte(message)); err != nil {
		fail(err)
	}
	got := make([]byte, 0, len(message))
	buf := make([]byte, 32*1024)
	for len(got) < len(message) {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if err == io.EOF {
				break
			}
			fail(err)
		}
	}
	_ = conn.Close()
	// Istio's logger writes to stdout too: the echo is the line after this marker.
	fmt.Printf("\n--- echoed ---\n%s", string(got))
}

func runServer(addr string, config *tls.Config) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	server := hbone.NewServer()
	server.TLSConfig = config
	// hbone.NewServer enables HTTP/1.1 and HTTP/2 without TLS (h2c); ztunnel speaks HTTP/2 over TLS.
	server.Protocols.SetHTTP2(true)
	if err := server.ServeTLS(listener, "", ""); err != nil && !strings.Contains(err.Error(), "closed") {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "istio-hbone:", err)
	os.Exit(1)
}
