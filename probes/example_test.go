package probes_test

import (
	"fmt"
	"time"

	"fibremon"
	"fibremon/probes"
)

func ExampleSummarize() {
	// Five packets sent, the fourth lost; RTTs of the others in send order.
	ms := time.Millisecond
	s := probes.Summarize(5, []time.Duration{10 * ms, 12 * ms, 11 * ms, 15 * ms})
	fmt.Println("received:", s.Received, "of", s.Sent, "loss:", s.Loss)
	fmt.Println("min:", s.Min, "avg:", s.Avg, "max:", s.Max, "p95:", s.P95)
	// RFC 3550 over D = 2, 1, 4 ms from J = 0.
	fmt.Println("jitter:", s.Jitter)
	// Output:
	// received: 4 of 5 loss: 0.2
	// min: 10ms avg: 12ms max: 15ms p95: 15ms
	// jitter: 418.457µs
}

func ExampleTarget_Check() {
	// Zero options take the kind's defaults; a bare host is an ndt7 server
	// over wss.
	t, err := probes.Target{Kind: fibremon.KindDownload, Address: "ndt.example.org"}.Check()
	fmt.Println(t.Address, t.Throughput.Duration, t.Throughput.Interface, t.Throughput.MaxOtherTrafficRatio, err)
	// Options of another kind are a mistake.
	_, err = probes.Target{Kind: fibremon.KindHTTP, Address: "http://h/",
		Options: probes.Options{Latency: probes.LatencyOptions{Count: 5}}}.Check()
	fmt.Println(err)
	// Output:
	// wss://ndt.example.org 10s auto 0.1 <nil>
	// probes: bad target: http options: latency options given to the http probe
}
