package sweep

import (
	"context"
	"math"
	"sync"
	"time"
)

// ARM's published subscription limits (token bucket per subscription,
// principal and operation type, in the region of the Resource Manager
// instance that serves the request: one region for one sweep run).
// learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
const (
	ARMWriteBucket = 200
	ARMWriteRefill = 10 // tokens per second
	ARMReadBucket  = 250
	ARMReadRefill  = 25
)

// Bucket is a client-side token bucket: the sweep spends a token before each
// ARM request, so it stays inside ARM's limits instead of learning them from
// 429s. Retry-After on a 429 is still honoured by the ARM pipeline.
type Bucket struct {
	mu       sync.Mutex
	capacity float64
	refill   float64 // tokens per second
	tokens   float64
	last     time.Time
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

// NewBucket starts full.
func NewBucket(capacity, refillPerSecond float64, now func() time.Time, sleep func(context.Context, time.Duration) error) *Bucket {
	return &Bucket{capacity: capacity, refill: refillPerSecond, tokens: capacity, last: now(), now: now, sleep: sleep}
}

// Wait takes one token, sleeping until it is there. Tokens are reserved
// under the lock, so concurrent callers queue in order.
func (b *Bucket) Wait(ctx context.Context) error {
	b.mu.Lock()
	now := b.now()
	if now.After(b.last) {
		b.tokens = min(b.capacity, b.tokens+now.Sub(b.last).Seconds()*b.refill)
		b.last = now
	}
	b.tokens--
	var wait time.Duration
	if b.tokens < 0 {
		// Rounded up to the millisecond: waking a hair early would meet
		// ARM's bucket just short of a whole token.
		wait = time.Duration(math.Ceil(-b.tokens/b.refill*1000)) * time.Millisecond
	}
	b.mu.Unlock()
	if wait > 0 {
		return b.sleep(ctx, wait)
	}
	return ctx.Err()
}

// Limits are the buckets of one sweep, per subscription.
type Limits struct {
	mu            sync.Mutex
	reads, writes map[string]*Bucket
	now           func() time.Time
	sleep         func(context.Context, time.Duration) error
}

// Headroom is the share of each ARM bucket the sweep leaves unused: a token
// spent here reaches ARM a little later (network, retries), and when ARM's
// bucket is full in between, that lateness costs tokens; the same principal
// may also be calling ARM elsewhere.
const Headroom = 0.25

// NewLimits uses ARM's published subscription buckets, less Headroom.
func NewLimits(now func() time.Time, sleep func(context.Context, time.Duration) error) *Limits {
	return &Limits{reads: map[string]*Bucket{}, writes: map[string]*Bucket{}, now: now, sleep: sleep}
}

func (l *Limits) bucket(m map[string]*Bucket, sub string, capacity, refill float64) *Bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := m[sub]
	if b == nil {
		b = NewBucket(capacity, refill, l.now, l.sleep)
		m[sub] = b
	}
	return b
}

// Read waits for a read token of subscription sub.
func (l *Limits) Read(ctx context.Context, sub string) error {
	return l.bucket(l.reads, sub, ARMReadBucket*(1-Headroom), ARMReadRefill).Wait(ctx)
}

// Write waits for a write token of subscription sub.
func (l *Limits) Write(ctx context.Context, sub string) error {
	return l.bucket(l.writes, sub, ARMWriteBucket*(1-Headroom), ARMWriteRefill).Wait(ctx)
}
