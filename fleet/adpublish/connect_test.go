package adpublish

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// fakeLDAP is a loopback listener that answers StartTLS (with success and
// then a TLS handshake with an untrusted certificate, or with an error)
// and records every LDAP operation it receives in the clear.
type fakeLDAP struct {
	addr      string
	acceptTLS bool
	mu        sync.Mutex
	ops       []int64 // application tags: 0 bind, 23 extended
}

func startFakeLDAP(t *testing.T, acceptTLS bool) *fakeLDAP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &fakeLDAP{addr: ln.Addr().String(), acceptTLS: acceptTLS}
	cert := httptest.NewTLSServer(nil) // a certificate no client trusts
	t.Cleanup(cert.Close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c, cert.TLS.Certificates)
		}
	}()
	return f
}

func (f *fakeLDAP) serve(c net.Conn, certs []tls.Certificate) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	for {
		p, err := ber.ReadPacket(c)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id, op := p.Children[0].Value, p.Children[1].Tag
		f.mu.Lock()
		f.ops = append(f.ops, int64(op))
		f.mu.Unlock()
		code := int64(52) // unavailable
		if op == 23 && f.acceptTLS {
			code = 0
		}
		resp := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
		ext := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 24, nil, "")
		ext.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
		ext.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		ext.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "no", ""))
		resp.AppendChild(ext)
		if _, err := c.Write(resp.Bytes()); err != nil {
			return
		}
		if op == 23 && f.acceptTLS {
			s := tls.Server(c, &tls.Config{Certificates: certs})
			s.Handshake() // the client must refuse the certificate
			return
		}
	}
}

func (f *fakeLDAP) sawBind() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, op := range f.ops {
		if op == 0 {
			return true
		}
	}
	return false
}

// TestNeverBindsInTheClear: a DC that refuses StartTLS, or presents a
// certificate that does not verify, never sees a bind (no password on the
// wire), and the error says what to do.
func TestNeverBindsInTheClear(t *testing.T) {
	for _, tc := range []struct {
		name      string
		acceptTLS bool
		want      string
	}{
		{"StartTLS refused", false, "plain LDAP is never used"},
		{"certificate untrusted", true, "--ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeLDAP(t, tc.acceptTLS)
			_, err := Connect(context.Background(), Config{Domain: "contoso.local", Server: f.addr,
				Username: "admin@contoso.local", Password: "secret", Timeout: 5 * time.Second})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Connect = %v, want an error containing %q", err, tc.want)
			}
			if tc.acceptTLS && !errors.Is(err, ErrUntrusted) {
				t.Errorf("err %v is not ErrUntrusted", err)
			}
			if f.sawBind() {
				t.Fatal("the client sent a bind request in the clear")
			}
		})
	}
}
