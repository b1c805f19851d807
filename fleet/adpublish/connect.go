package adpublish

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudsoda/go-smb2"
	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldap/v3/gssapi"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Config says how to reach and authenticate to a domain controller.
type Config struct {
	// Domain is the DNS name of the AD domain (contoso.local).
	Domain string
	// Server is a domain controller's name, optionally with :port for LDAPS;
	// empty means the domain's DCs from DNS SRV _ldap._tcp.dc._msdcs.<Domain>.
	Server string
	// Username is a UPN (admin@contoso.local) or DOMAIN\user.
	Username string
	Password string
	// Kerberos, when set, authenticates LDAP (GSSAPI inside TLS, no SASL
	// security layer) and SMB with Kerberos instead of the password.
	Kerberos *Kerberos
	// RootCAs verifies the DC's certificate; nil means the system roots.
	RootCAs *x509.CertPool
	// Resolver finds DCs when Server is empty; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Timeout bounds each connection attempt; zero means 15 s.
	Timeout time.Duration
}

// Kerberos says where the Kerberos credentials come from: a keytab for
// Username, else a ticket cache (kinit's). Read with jcmturner/gokrb5.
type Kerberos struct {
	// Keytab is a keytab file with Username's keys; empty means CCache.
	Keytab string
	// CCache is a ticket cache file (KRB5CCNAME without FILE:).
	CCache string
	// Config is krb5.conf (KRB5_CONFIG, else /etc/krb5.conf).
	Config string
}

// client logs in: from the keytab (an AS exchange with the KDC), or from
// the ticket cache's TGT.
func (k *Kerberos) client(username, domain string) (*krbclient.Client, error) {
	conf, err := krbconfig.Load(k.Config)
	if err != nil {
		return nil, fmt.Errorf("reading krb5.conf %s: %w (set KRB5_CONFIG or --krb5-conf)", k.Config, err)
	}
	if k.Keytab == "" {
		cc, err := credentials.LoadCCache(k.CCache)
		if err != nil {
			return nil, fmt.Errorf("reading the Kerberos ticket cache %s: %w (run kinit, or pass --keytab)", k.CCache, err)
		}
		cl, err := krbclient.NewFromCCache(cc, conf, krbclient.DisablePAFXFAST(true))
		if err != nil {
			return nil, fmt.Errorf("the Kerberos ticket cache %s: %w (run kinit again)", k.CCache, err)
		}
		return cl, nil
	}
	kt, err := keytab.Load(k.Keytab)
	if err != nil {
		return nil, fmt.Errorf("reading keytab %s: %w", k.Keytab, err)
	}
	user, realm := username, strings.ToUpper(domain)
	if u, r, ok := strings.Cut(username, "@"); ok {
		user, realm = u, strings.ToUpper(r)
	} else if i := strings.IndexByte(username, '\\'); i >= 0 {
		user = username[i+1:]
	}
	cl := krbclient.NewWithKeytab(user, realm, kt, conf, krbclient.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		return nil, fmt.Errorf("Kerberos login as %s@%s with keytab %s: %w", user, realm, k.Keytab, err)
	}
	return cl, nil
}

// ErrUntrusted says the DC's certificate did not verify.
var ErrUntrusted = errors.New("the domain controller's TLS certificate is not trusted")

// Session is an open LDAP connection and SYSVOL share on one DC.
type Session struct {
	Server    string
	Directory Directory
	SYSVOL    Share
	// CallerSID is the bound account's SID (nil when the DC did not say):
	// the SYSVOL folder's owner is set only to it.
	CallerSID []byte
	close     func()
}

// Close ends both connections.
func (s *Session) Close() {
	if s != nil && s.close != nil {
		s.close()
	}
}

// Connect binds to LDAP over TLS (LDAPS on 636, else StartTLS on 389; the
// certificate is always verified) and mounts SYSVOL over SMB with signing
// required. Nothing is written: a wrong password fails here.
func Connect(ctx context.Context, cfg Config) (*Session, error) {
	servers := []string{cfg.Server}
	if cfg.Server == "" {
		found, err := findDCs(ctx, cfg)
		if err != nil {
			return nil, err
		}
		servers = found
	}
	var errs []error
	for _, server := range servers {
		s, err := connectOne(ctx, cfg, server)
		if err == nil {
			if cfg.Server == "" {
				return toPDC(ctx, cfg, s)
			}
			return s, nil
		}
		// Credentials and trust are the same on every DC: stop at once.
		if errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrUntrusted) || errors.Is(err, ErrAccessDenied) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// toPDC moves to the PDC emulator when DNS gave another DC: GPMC edits
// GPOs there, so SYSVOL replication never has two writers for a GPO.
func toPDC(ctx context.Context, cfg Config, s *Session) (*Session, error) {
	pdc, err := PDCEmulator(s.Directory)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("finding the PDC emulator through %s: %w; pass --server to choose a DC", s.Server, err)
	}
	if strings.EqualFold(pdc, s.Server) {
		return s, nil
	}
	s.Close()
	p, err := connectOne(ctx, cfg, pdc)
	if err != nil {
		return nil, fmt.Errorf("the PDC emulator %s, where GPOs are edited (as GPMC does): %w; pass --server to choose a DC", pdc, err)
	}
	return p, nil
}

// PDCEmulator returns the DNS name of the domain's PDC emulator: the
// server whose NTDS Settings the domain head's fSMORoleOwner names.
func PDCEmulator(dir Directory) (string, error) {
	root, err := dir.Read("", "defaultNamingContext")
	if err != nil {
		return "", err
	}
	head, err := dir.Read(root.Get("defaultNamingContext"), "fSMORoleOwner")
	if err != nil {
		return "", err
	}
	ntds := head.Get("fSMORoleOwner")
	_, server, ok := strings.Cut(ntds, ",")
	if !ok {
		return "", fmt.Errorf("fSMORoleOwner %q is not an NTDS Settings DN", ntds)
	}
	srv, err := dir.Read(server, "dNSHostName")
	if err != nil {
		return "", err
	}
	name := srv.Get("dNSHostName")
	if name == "" {
		return "", fmt.Errorf("%s has no dNSHostName", server)
	}
	return name, nil
}

func findDCs(ctx context.Context, cfg Config) ([]string, error) {
	r := cfg.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	_, srvs, err := r.LookupSRV(ctx, "ldap", "tcp", "dc._msdcs."+cfg.Domain)
	if err != nil || len(srvs) == 0 {
		return nil, fmt.Errorf("finding domain controllers of %s (DNS SRV _ldap._tcp.dc._msdcs.%s): %v; pass --server DC-NAME", cfg.Domain, cfg.Domain, err)
	}
	sort.SliceStable(srvs, func(i, j int) bool { return srvs[i].Priority < srvs[j].Priority })
	var out []string
	for _, s := range srvs {
		out = append(out, strings.TrimSuffix(s.Target, "."))
	}
	return out, nil
}

func connectOne(ctx context.Context, cfg Config, server string) (*Session, error) {
	host, port := server, ""
	if h, p, err := net.SplitHostPort(server); err == nil {
		host, port = h, p
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	tlsCfg := &tls.Config{ServerName: host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{Timeout: timeout}
	conn, err := dialLDAP(host, port, tlsCfg, dialer)
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(timeout)
	var krb *krbclient.Client
	if cfg.Kerberos != nil {
		if krb, err = cfg.Kerberos.client(cfg.Username, cfg.Domain); err != nil {
			conn.Close()
			return nil, err
		}
		// GSSAPI inside the verified TLS session, with no SASL security
		// layer: what a Windows DC accepts over TLS ([MS-ADTS]: no SASL layer inside TLS).
		if err := conn.GSSAPIBind(&gssapi.Client{Client: krb}, "ldap/"+host, ""); err != nil {
			conn.Close()
			return nil, fmt.Errorf("LDAP Kerberos (GSSAPI) bind to %s: %w", host, err)
		}
	} else if err := conn.Bind(cfg.Username, cfg.Password); err != nil {
		conn.Close()
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, fmt.Errorf("LDAP bind to %s as %s: %w: check --username and AVDGEN_PASSWORD (nothing was changed)", host, cfg.Username, ErrInvalidCredentials)
		}
		return nil, fmt.Errorf("LDAP bind to %s as %s: %w", host, cfg.Username, err)
	}
	dir := &ldapDirectory{conn: conn}
	caller := callerSID(conn, dir)

	user, domain := splitUser(cfg.Username)
	var initiator smb2.Initiator = &smb2.NTLMInitiator{User: user, Password: cfg.Password, Domain: domain}
	if krb != nil {
		initiator = &smb2.Krb5Initiator{Client: krb, TargetSPN: "cifs/" + host}
	}
	d := &smb2.Dialer{
		Negotiator: smb2.Negotiator{RequireMessageSigning: true},
		Initiator:  initiator,
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sess, err := d.Dial(dctx, net.JoinHostPort(host, "445"))
	if err != nil {
		conn.Close()
		if strings.Contains(err.Error(), "LOGON_FAILURE") {
			return nil, fmt.Errorf("SMB logon to %s as %s: %w: check --username and AVDGEN_PASSWORD (nothing was changed)", host, cfg.Username, ErrInvalidCredentials)
		}
		return nil, fmt.Errorf("SMB connection to %s: %w", host, err)
	}
	share, err := sess.Mount(`\\` + host + `\SYSVOL`)
	if err != nil {
		sess.Logoff()
		conn.Close()
		return nil, fmt.Errorf("mounting \\\\%s\\SYSVOL: %w", host, smbErr(err))
	}
	return &Session{
		Server:    host,
		Directory: dir,
		SYSVOL:    &smbShare{share: share},
		CallerSID: caller,
		close: func() {
			share.Umount()
			sess.Logoff()
			conn.Close()
		},
	}, nil
}

// callerSID asks the DC who we are (RFC 4532 WhoAmI: "u:DOMAIN\\user")
// and reads that account's objectSid; nil when either step fails, and
// then no owner is ever set.
func callerSID(conn *ldap.Conn, dir *ldapDirectory) []byte {
	who, err := conn.WhoAmI(nil)
	if err != nil {
		return nil
	}
	id := strings.TrimPrefix(who.AuthzID, "u:")
	_, sam, ok := strings.Cut(id, `\`)
	if !ok {
		return nil
	}
	root, err := dir.Read("", "defaultNamingContext")
	if err != nil {
		return nil
	}
	res, err := conn.Search(ldap.NewSearchRequest(root.Get("defaultNamingContext"), ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
		"(sAMAccountName="+ldap.EscapeFilter(sam)+")", []string{"objectSid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return nil
	}
	return res.Entries[0].GetRawAttributeValue("objectSid")
}

// dialLDAP opens LDAPS on 636, or LDAP upgraded with StartTLS on 389 when
// the DC does not listen on LDAPS (an explicit port other than 636 means
// StartTLS on that port). A certificate that does not verify is never
// retried without TLS.
func dialLDAP(host, port string, tlsCfg *tls.Config, dialer *net.Dialer) (*ldap.Conn, error) {
	if port == "" || port == "636" {
		conn, err := ldap.DialURL("ldaps://"+net.JoinHostPort(host, "636"), ldap.DialWithTLSConfig(tlsCfg), ldap.DialWithDialer(dialer))
		if err == nil {
			return conn, nil
		}
		if untrusted(err) {
			return nil, untrustedErr(host, err)
		}
		if port == "636" {
			return nil, fmt.Errorf("LDAPS to %s:636: %w", host, err)
		}
		port = "389"
	}
	conn, err := ldap.DialURL("ldap://"+net.JoinHostPort(host, port), ldap.DialWithDialer(dialer))
	if err != nil {
		return nil, fmt.Errorf("LDAP to %s: neither LDAPS nor LDAP with StartTLS answers: %w", net.JoinHostPort(host, port), err)
	}
	if err := conn.StartTLS(tlsCfg); err != nil {
		conn.Close()
		if untrusted(err) {
			return nil, untrustedErr(host, err)
		}
		return nil, fmt.Errorf("StartTLS with %s (plain LDAP is never used): %w", net.JoinHostPort(host, port), err)
	}
	return conn, nil
}

func untrusted(err error) bool {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return true
	}
	// go-ldap's StartTLS flattens the handshake error into its message.
	return strings.Contains(err.Error(), "failed to verify certificate") || strings.Contains(err.Error(), "x509: ")
}

func untrustedErr(host string, err error) error {
	return fmt.Errorf("%w (%s: %v): pass --ca-file with the PEM certificate of the CA that issued it, or --server with the name in the certificate", ErrUntrusted, host, err)
}

// splitUser turns DOMAIN\user into NTLM's user and domain; a UPN goes as
// the user name with an empty domain, which DCs accept.
func splitUser(u string) (user, domain string) {
	if i := strings.IndexByte(u, '\\'); i >= 0 {
		return u[i+1:], u[:i]
	}
	return u, ""
}

// ldapDirectory is Directory over go-ldap.
type ldapDirectory struct{ conn *ldap.Conn }

// sdControl asks for owner, group and DACL of nTSecurityDescriptor (not the
// SACL, which needs a privilege publishing does not).
var sdControl = []ldap.Control{&ldap.ControlMicrosoftSDFlags{ControlValue: 7}}

func ldapErr(op, dn string, err error) error {
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return fmt.Errorf("%s %s: %w", op, dn, ErrNoSuchObject)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights):
		return fmt.Errorf("%s %s: %w", op, dn, ErrAccessDenied)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute), ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists),
		ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists):
		return fmt.Errorf("%s %s: %w (%v)", op, dn, ErrConflict, err)
	}
	return fmt.Errorf("%s %s: %w", op, dn, err)
}

func toEntry(e *ldap.Entry) Entry {
	out := Entry{DN: e.DN, Attrs: map[string][]string{}}
	for _, a := range e.Attributes {
		out.Attrs[strings.ToLower(a.Name)] = a.Values
	}
	return out
}

func (d *ldapDirectory) Read(dn string, attrs ...string) (*Entry, error) {
	res, err := d.conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", attrs, sdControl))
	if err != nil {
		return nil, ldapErr("reading", dn, err)
	}
	if len(res.Entries) == 0 {
		return nil, fmt.Errorf("reading %s: %w", dn, ErrNoSuchObject)
	}
	e := toEntry(res.Entries[0])
	return &e, nil
}

func (d *ldapDirectory) Children(dn, objectClass string, anyOf []Attr, attrs ...string) ([]Entry, error) {
	var or strings.Builder
	for _, a := range anyOf {
		for _, v := range a.Values {
			or.WriteString("(" + a.Name + "=" + ldap.EscapeFilter(v) + ")")
		}
	}
	filter := "(&(objectClass=" + ldap.EscapeFilter(objectClass) + ")(|" + or.String() + "))"
	res, err := d.conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, sdControl))
	if err != nil {
		return nil, ldapErr("listing", dn, err)
	}
	out := make([]Entry, 0, len(res.Entries))
	for _, e := range res.Entries {
		out = append(out, toEntry(e))
	}
	return out, nil
}

func (d *ldapDirectory) Search(base, attr, substring string, attrs ...string) ([]Entry, error) {
	filter := "(" + attr + "=*" + ldap.EscapeFilter(substring) + "*)"
	res, err := d.conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter, attrs, nil), 500)
	if err != nil {
		return nil, ldapErr("searching", base, err)
	}
	out := make([]Entry, 0, len(res.Entries))
	for _, e := range res.Entries {
		out = append(out, toEntry(e))
	}
	return out, nil
}

func (d *ldapDirectory) Delete(dn string) error {
	if err := d.conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		return ldapErr("deleting", dn, err)
	}
	return nil
}

func (d *ldapDirectory) Add(dn string, attrs []Attr) error {
	req := ldap.NewAddRequest(dn, nil)
	for _, a := range attrs {
		req.Attribute(a.Name, a.Values)
	}
	if err := d.conn.Add(req); err != nil {
		return ldapErr("creating", dn, err)
	}
	return nil
}

func (d *ldapDirectory) Modify(dn string, changes []Mod) error {
	req := ldap.NewModifyRequest(dn, nil)
	for _, c := range changes {
		switch c.Op {
		case ModAdd:
			req.Add(c.Attr, c.Values)
		case ModDelete:
			req.Delete(c.Attr, c.Values)
		case ModReplace:
			req.Replace(c.Attr, c.Values)
		}
	}
	if err := d.conn.Modify(req); err != nil {
		return ldapErr("modifying", dn, err)
	}
	return nil
}

// smbShare is Share over go-smb2.
type smbShare struct{ share *smb2.Share }

func winPath(name string) string { return strings.ReplaceAll(name, "/", `\`) }

// smbErr keeps os.ErrNotExist and maps permission errors to ErrAccessDenied.
func smbErr(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %v", ErrAccessDenied, err)
	}
	return err
}

func (s *smbShare) ReadFile(name string) ([]byte, error) {
	b, err := s.share.ReadFile(winPath(name))
	return b, smbErr(err)
}

func (s *smbShare) SHA256(name string) (string, error) {
	f, err := s.share.Open(winPath(name))
	if err != nil {
		return "", smbErr(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", smbErr(err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (s *smbShare) WriteFile(name string, r io.Reader) error {
	f, err := s.share.OpenFile(winPath(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return smbErr(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return smbErr(err)
	}
	return smbErr(f.Close())
}

func (s *smbShare) Rename(oldname, newname string) error {
	return smbErr(s.share.Rename(winPath(oldname), winPath(newname)))
}

func (s *smbShare) Remove(name string) error { return smbErr(s.share.Remove(winPath(name))) }

func (s *smbShare) Mkdir(name string) error {
	err := s.share.Mkdir(winPath(name), 0o755)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return smbErr(err)
}

func (s *smbShare) SecurityDescriptor(name string) ([]byte, error) {
	b, err := s.share.SecurityInfoRaw(winPath(name), smb2.OwnerSecurityInformation|smb2.GroupSecurityInformation|smb2.DACLSecurityInformation)
	return b, smbErr(err)
}

// PROTECTED_DACL_SECURITY_INFORMATION: the folder's DACL does not inherit
// from Policies, as GPMC and samba-tool set it; UNPROTECTED for the files
// below, whose ACEs are inherited.
const (
	protectedDACL   = 0x80000000
	unprotectedDACL = 0x20000000
)

func (s *smbShare) ReadDir(name string) ([]string, error) {
	infos, err := s.share.ReadDir(winPath(name))
	if err != nil {
		return nil, smbErr(err)
	}
	out := make([]string, 0, len(infos))
	for _, fi := range infos {
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out, nil
}

type rawSD []byte

func (r rawSD) Encode(dest []byte) { copy(dest, r) }
func (r rawSD) Size() int          { return len(r) }

func (s *smbShare) SetSecurityDescriptor(name string, sd []byte) error {
	d, err := parseDescriptor(sd)
	if err != nil {
		return err
	}
	flags := smb2.DACLSecurityInformation
	if d.owner != nil {
		flags |= smb2.OwnerSecurityInformation
	}
	if d.control&seDACLProtected != 0 {
		flags |= protectedDACL
	} else {
		flags |= unprotectedDACL
	}
	return smbErr(s.share.SetSecurityInfoRaw(winPath(name), flags, rawSD(sd)))
}

// parseVersion reads a decimal versionNumber ("" is 0).
func parseVersion(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > 0xFFFFFFFF {
		return 0, fmt.Errorf("versionNumber %q is not a 32-bit number", s)
	}
	return uint32(v), nil
}
