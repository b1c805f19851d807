package graphpublish

import (
	"context"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/avdgen/avdgen/agent/azure"
	"github.com/avdgen/avdgen/dist"
	"github.com/avdgen/avdgen/generator/intune"
	"github.com/avdgen/avdgen/generator/spec"
	"github.com/avdgen/avdgen/internal/fakegraph"
)

// benchBundle uses the real embedded agents when they are built (make
// agents), so the upload has the real package size; else 8 MB of random
// bytes per agent, about what they weigh.
func benchBundle(b *testing.B) Input {
	agents, err := dist.Embedded()
	if err != nil {
		agents = dist.Agents{Version: "bench", ByArch: map[dist.Arch]dist.Agent{}}
		for _, a := range dist.Arches {
			bin := make([]byte, 8<<20)
			rand.Read(bin)
			agents.ByArch[a] = dist.Agent{Arch: a, Binary: bin}
		}
	}
	s, _ := spec.Decode("b.yaml", []byte(spec15m))
	files, err := intune.Build(intune.Input{Spec: s.WithDefaults(), Agents: agents, Time: time.Unix(1700000000, 0).UTC(), AvdgenVersion: "bench", Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		m[f.Path] = f.Data
	}
	in, err := FromBundle(m, false)
	if err != nil {
		b.Fatal(err)
	}
	in.Group = fakegraph.GroupID
	return in
}

func benchConfig(f *fakegraph.Fake) Config {
	return Config{Cloud: azure.Clouds[0], Endpoint: f.URL, Credential: &staticToken{}, HTTPClient: &http.Client{},
		Sleep: func(context.Context, time.Duration) error { return nil }, Now: func() time.Time { return serviceNow },
		BlobRetry: policy.RetryOptions{MaxRetries: 1}}
}

// BenchmarkPublishFirst: an empty-for-us tenant (default page size 3 over
// the seeded objects, 2 polls per upload state) to an assigned profile and
// app with committed content. Polls sleep 0 here: the real waits are Intune's.
func BenchmarkPublishFirst(b *testing.B) {
	in := benchBundle(b)
	var rep *Report
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := fakegraph.New(b, fakegraph.Options{})
		b.StartTimer()
		var err error
		if rep, err = Publish(context.Background(), benchConfig(f), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rep.Requests), "graph-requests/op")
	b.ReportMetric(float64(rep.Writes), "graph-writes/op")
	b.ReportMetric(float64(rep.BlobWrites), "blob-writes/op")
	b.ReportMetric(float64(len(in.Package.Encrypted))/(1<<20), "MiB-package")
}

// BenchmarkPublishRerun: the same bundle again: reads only.
func BenchmarkPublishRerun(b *testing.B) {
	in := benchBundle(b)
	f := fakegraph.New(b, fakegraph.Options{})
	if _, err := Publish(context.Background(), benchConfig(f), in); err != nil {
		b.Fatal(err)
	}
	var rep *Report
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if rep, err = Publish(context.Background(), benchConfig(f), in); err != nil {
			b.Fatal(err)
		}
		if rep.Writes != 0 || rep.BlobWrites != 0 {
			b.Fatalf("rerun wrote: %+v", rep)
		}
	}
	b.ReportMetric(float64(rep.Requests), "graph-requests/op")
	b.ReportMetric(float64(rep.Writes), "graph-writes/op")
}
