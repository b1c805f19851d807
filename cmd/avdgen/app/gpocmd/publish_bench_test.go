package gpocmd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avdgen/avdgen/dist"
)

// BenchmarkPublishAgainstSambaDC measures `avdgen gpo publish` against the
// local Samba DC of .ci/samba-dc.sh: a first publish (creates the GPO,
// uploads both agents, links) and a rerun with the same spec (reads only),
// in seconds and LDAP/SMB round trips (docs/performance.md). Each
// iteration publishes a new host pool's GPO, with the agents removed from
// SYSVOL first. With the embedded agents
// (make bench builds them) the upload is the real 2 x ~8 MB.
func BenchmarkPublishAgainstSambaDC(b *testing.B) {
	if !insideDC(b, "-test.bench", "BenchmarkPublishAgainstSambaDC") {
		return
	}
	d := newDC(b)
	if _, err := dist.Embedded(); err == nil {
		d.agentDir = "" // the real agents
	}
	d.sambaTool("ou", "create", "OU=AVD,DC=contoso,DC=local") // exists on the framework's second call
	var first, rerun time.Duration
	var firstLDAP, firstSMB, rerunLDAP, rerunSMB int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A true first publish: the agents are not in SYSVOL yet either.
		if err := os.RemoveAll(filepath.Join(d.dir, "state", "sysvol", d.domain, "scripts", "avdgen")); err != nil {
			b.Fatal(err)
		}
		benchPools++
		pool := "--host-pool=hp-bench-" + strconv.Itoa(benchPools)
		start := time.Now()
		res, _, err := d.publish(d.password, pool)
		first += time.Since(start)
		if err != nil || !res.Created {
			b.Fatalf("first publish: %v %+v", err, res)
		}
		firstLDAP, firstSMB = res.LDAPOps, res.SMBOps
		start = time.Now()
		res, _, err = d.publish(d.password, pool)
		rerun += time.Since(start)
		if err != nil || res.Changed() {
			b.Fatalf("rerun: %v %+v", err, res)
		}
		rerunLDAP, rerunSMB = res.LDAPOps, res.SMBOps
	}
	n := float64(b.N)
	b.ReportMetric(first.Seconds()/n, "first-s")
	b.ReportMetric(float64(firstLDAP), "first-ldap-ops")
	b.ReportMetric(float64(firstSMB), "first-smb-ops")
	b.ReportMetric(rerun.Seconds()/n, "rerun-s")
	b.ReportMetric(float64(rerunLDAP), "rerun-ldap-ops")
	b.ReportMetric(float64(rerunSMB), "rerun-smb-ops")
}

// benchPools numbers the host pools across the framework's calls.
var benchPools int

// reportInnerMetrics copies the figures of the run inside the DC onto the
// outer benchmark line, so `make bench` shows them.
func reportInnerMetrics(b *testing.B, name, out string) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		f := strings.Fields(line)
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil && f[i+1] != "ns/op" {
				b.ReportMetric(v, f[i+1])
			}
		}
	}
}
