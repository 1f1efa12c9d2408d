package smpp

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkSubmit measures one Client's submit throughput against the
// simulator over loopback TCP with receipts on: every op is one submit_sm
// answered, and the run ends when every receipt has been acknowledged.
//
//	go test -run '^$' -bench BenchmarkSubmit -benchtime 20000x ./adapters/smpp/
func BenchmarkSubmit(b *testing.B) {
	for _, tc := range []struct{ binds, window int }{{1, 1}, {1, 10}, {2, 10}, {4, 10}, {4, 50}} {
		b.Run(fmt.Sprintf("binds=%d/window=%d", tc.binds, tc.window), func(b *testing.B) {
			// SMPP_BENCH_SMSC=host:port sends to an SMSC in another process
			// (e.g. `ziett smsc -receipt-delay 0`), so cpu-µs/msg is the
			// client's alone.
			ext := os.Getenv("SMPP_BENCH_SMSC")
			var smsc *SMSC
			addr := ext
			if ext == "" {
				var err error
				if smsc, err = NewSMSC(SMSCConfig{Log: quietLog()}); err != nil {
					b.Fatal(err)
				}
				if err := smsc.Start(); err != nil {
					b.Fatal(err)
				}
				defer smsc.Close()
				addr = smsc.Addr()
			}
			var receipts atomic.Int64
			c, err := NewClient(ClientConfig{Addr: addr, SystemID: "bench", Binds: tc.binds, Window: tc.window, Log: quietLog(),
				OnDeliver: func(context.Context, Delivery) error { receipts.Add(1); return nil }})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { c.Run(ctx); close(ran) }()
			defer func() { cancel(); <-ran }()
			for c.bound() < tc.binds {
				time.Sleep(time.Millisecond)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < tc.binds*tc.window; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := c.Submit(ctx, Submission{Ref: uuid.New(), Source: "Ziett", Dest: "244990000001", Text: "Flash Sale! Enjoy 50% off on all items this weekend only."}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			submitted := time.Since(start)
			for receipts.Load() < int64(b.N) || (smsc != nil && smsc.PendingReceipts() > 0) {
				time.Sleep(time.Millisecond)
			}
			all := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/submitted.Seconds(), "submits/s")
			b.ReportMetric(float64(b.N)/all.Seconds(), "msgs+receipts/s")
			b.ReportMetric(float64(b.N)/submitted.Seconds()/float64(tc.binds), "roundtrips/s/bind")
			// CPU spent by both ends per message (submit, response, receipt,
			// its response): on a shared machine the rates above follow the
			// load, this does not.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
		})
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bound counts the binds up.
func (c *Client) bound() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.slots {
		if s != nil {
			n++
		}
	}
	return n
}
