package consul_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/ingress/pebbletest"
)

// replica is one ingress replica's TLS side: plain HTTP (ACME challenges, then the
// proxy) and HTTPS, on its own listeners.
type replica struct {
	httpsAddr string
	certs     *ingress.Certs
}

func startReplica(t *testing.T, client *consulapi.Client, p *ingress.Proxy, httpListener net.Listener, acmeURL string, acmeClient *http.Client, key []byte) *replica {
	t.Helper()
	sealed, err := ingress.NewSealedCache(consul.NewCertCache(client, ""), key)
	if err != nil {
		t.Fatal(err)
	}
	certs := ingress.NewCerts(ingress.CertsConfig{
		DirectoryURL: acmeURL, Cache: sealed, Locker: consul.NewLocker(client, ""), Routed: p.Routed, HTTPClient: acmeClient,
	})
	plain := &http.Server{Handler: certs.HTTPHandler(p)}
	go plain.Serve(httpListener)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure := &http.Server{Handler: p, TLSConfig: certs.TLSConfig()}
	go secure.ServeTLS(tl, "", "")
	t.Cleanup(func() { plain.Close(); secure.Close() })
	return &replica{httpsAddr: tl.Addr().String(), certs: certs}
}

// TestCertificateFromPebble: a routed host gets a certificate from a real ACME server
// over HTTP-01 (ordered ahead by one replica) and is served over HTTPS; a second replica
// sharing the Consul cache serves the same certificate without ordering another; the
// cache holds no private key in the clear.
func TestCertificateFromPebble(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	host := "secure-live.apps.wharf.test"
	r.instance(t, "secure-live-web", backend(t, "secure hello"), consulapi.HealthPassing)
	putRoute(t, r, ingress.Route{App: "secure", Env: "live", Hosts: []string{host}, Service: "secure-live-web", HTTPSRedirect: true})
	r.await(t, host, 308, "")

	// Pebble validates on one port: replica A's HTTP listener. Replica B answers no
	// challenge; it must find A's certificate in Consul.
	la, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pb := pebbletest.Start(t, la.Addr().(*net.TCPAddr).Port)
	key := []byte("0123456789abcdef0123456789abcdef")
	a := startReplica(t, r.ingress, r.proxy, la, pb.Directory, pb.Client, key)
	b := startReplica(t, r.ingress, r.proxy, lb, pb.Directory, pb.Client, key)
	roots := pb.Roots(t)

	get := func(rep *replica) (*http.Response, string) {
		t.Helper()
		c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", rep.httpsAddr)
			},
		}}
		resp, err := c.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET over HTTPS: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	// Replica A orders ahead of any visitor, as it does for every new route.
	a.certs.Prefetch([]string{host})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if p, _, err := r.consul.KV().Get(consul.DefaultCertPrefix+"certs/"+host, nil); err == nil && p != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica A never stored a certificate in Consul")
		}
	}
	respB, body := get(b)
	if respB.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("HTTPS through replica B: %d %q", respB.StatusCode, body)
	}
	respA, body := get(a)
	if respA.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("HTTPS through replica A: %d %q", respA.StatusCode, body)
	}
	serialA, serialB := respA.TLS.PeerCertificates[0].SerialNumber, respB.TLS.PeerCertificates[0].SerialNumber
	if serialB.Cmp(serialA) != 0 {
		t.Errorf("replica B serves certificate %v, replica A %v: B ordered its own", serialB, serialA)
	}
	// Plain HTTP redirects to HTTPS, as the route asks.
	if a, err := r.get(host, "", ""); err != nil || a.status != 308 || a.location != "https://"+host+"/" {
		t.Errorf("plain HTTP: %d to %q (%v), want 308 to https://%s/", a.status, a.location, err, host)
	}

	// An unrouted name gets no certificate.
	conn, err := tls.Dial("tcp", a.httpsAddr, &tls.Config{RootCAs: roots, ServerName: "unrouted.wharf.test"})
	if err == nil {
		conn.Close()
		t.Error("a handshake for an unrouted host succeeded")
	}

	pairs, _, err := r.consul.KV().List(consul.DefaultCertPrefix+"certs/", nil)
	if err != nil || len(pairs) == 0 {
		t.Fatalf("no certificate cache in Consul: %v", err)
	}
	for _, p := range pairs {
		if strings.Contains(string(p.Value), "PRIVATE KEY") {
			t.Errorf("%s holds a private key in the clear", p.Key)
		}
	}
}
