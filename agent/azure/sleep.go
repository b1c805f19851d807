package azure

import (
	"context"
	"time"
)

// SleepContext waits d or until ctx ends: the Sleep of a real run, for the
// agent (IMDS retries, the grace period) and avdgen (retries, confirm
// delays) alike.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
