package azure

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// IMDSEndpoint is the real Instance Metadata Service. Only the agent's default
// uses it; tests and examples always pass a loopback override.
const IMDSEndpoint = "http://169.254.169.254"

// IsLoopbackHost reports whether host (a URL host, with or without port)
// names a loopback address: 127.0.0.0/8, ::1 or "localhost".
func IsLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseIMDSOverride checks an --imds-endpoint value: it must be a plain
// http URL on a loopback address (the real IMDS is plain http too). The
// result has no trailing slash.
func ParseIMDSOverride(flag, raw string) (string, error) {
	u, err := parseBase(flag, raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" || !IsLoopbackHost(u.Host) {
		return "", fmt.Errorf("%s %q: only a loopback http URL is allowed (e.g. http://127.0.0.1:8080); the real IMDS is used when the flag is not given", flag, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// ParseARMOverride checks an --arm-endpoint value: https anywhere (private
// clouds), or http only on a loopback address (tests).
func ParseARMOverride(flag, raw string) (string, error) {
	u, err := parseBase(flag, raw)
	if err != nil {
		return "", err
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && IsLoopbackHost(u.Host):
	default:
		return "", fmt.Errorf("%s %q: must be an https URL, or http on a loopback address (127.0.0.1, ::1, localhost)", flag, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func parseBase(flag, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Scheme == "" {
		return nil, fmt.Errorf("%s %q: not an absolute URL (want scheme://host[:port])", flag, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%s %q: give only scheme://host[:port], without path, query or credentials", flag, raw)
	}
	u.Path = ""
	return u, nil
}

// IsLoopbackURL reports whether base is an http(s) URL on a loopback host.
func IsLoopbackURL(base string) bool {
	u, err := url.Parse(base)
	return err == nil && IsLoopbackHost(u.Host)
}

// ParseGraphOverride checks a --graph-endpoint value: only a plain http URL
// on a loopback address (a test fake); the cloud's Graph is used otherwise.
// The result has no trailing slash.
func ParseGraphOverride(flag, raw string) (string, error) {
	u, err := parseBase(flag, raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" || !IsLoopbackHost(u.Host) {
		return "", fmt.Errorf("%s %q: only a loopback http URL is allowed (e.g. http://127.0.0.1:8080, a test fake); leave it out to use the cloud's Microsoft Graph", flag, raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
