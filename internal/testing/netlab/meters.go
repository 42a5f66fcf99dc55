package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Iperf3Port is the port of the iperf3 server StartIperf3Server starts.
const Iperf3Port = 5201

// StartIperf3Server starts `iperf3 -s` on the server address in the
// server namespace; Close stops it. It returns once the server accepts
// connections.
func (l *Lab) StartIperf3Server(ctx context.Context) (*Proc, error) {
	cmd := l.Command(context.WithoutCancel(ctx), Server, "iperf3", "-s", "-B", ServerAddr.String(), "-p", strconv.Itoa(Iperf3Port))
	p, err := l.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start iperf3 server: %w", err)
	}
	return p, l.WaitListening(ctx, Server, ServerAddr.String()+":"+strconv.Itoa(Iperf3Port))
}

// WaitListening waits until addr accepts TCP connections from the client
// namespace (from the server namespace for role Server: the connection
// does not cross the line).
func (l *Lab) WaitListening(ctx context.Context, r Role, addr string) error {
	dial := l.DialContext(r)
	deadline := time.Now().Add(10 * time.Second)
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s does not accept connections: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Iperf3Result is one iperf3 TCP test.
type Iperf3Result struct {
	// BitsPerSecond is the receiver's rate over the whole test
	// (end.sum_received), the figure comparable with ndt7's.
	BitsPerSecond float64
	// Retransmits counts the sender's retransmitted segments.
	Retransmits int
	// MinRTT is the sender's smallest smoothed RTT, when reported.
	MinRTT time.Duration
	// Congestion is the sender's TCP congestion control algorithm.
	Congestion string
}

// Iperf3 runs an iperf3 client in the client namespace against the server
// of StartIperf3Server for d: an upload, or with reverse a download.
func (l *Lab) Iperf3(ctx context.Context, reverse bool, d time.Duration) (Iperf3Result, error) {
	args := []string{"-c", ServerAddr.String(), "-p", strconv.Itoa(Iperf3Port), "-J",
		"-t", strconv.FormatFloat(d.Seconds(), 'f', -1, 64)}
	if reverse {
		args = append(args, "-R")
	}
	out, err := l.Output(l.Command(ctx, Client, "iperf3", args...))
	if err != nil {
		return Iperf3Result{}, err
	}
	return parseIperf3(out)
}

func parseIperf3(b []byte) (Iperf3Result, error) {
	var j struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			Streams []struct {
				Sender struct {
					MinRTT int64 `json:"min_rtt"` // µs
				} `json:"sender"`
			} `json:"streams"`
			SenderCongestion string `json:"sender_tcp_congestion"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 output: %w", err)
	}
	if j.Error != "" {
		return Iperf3Result{}, fmt.Errorf("iperf3: %s", j.Error)
	}
	r := Iperf3Result{BitsPerSecond: j.End.SumReceived.BitsPerSecond, Retransmits: j.End.SumSent.Retransmits,
		Congestion: j.End.SenderCongestion}
	if len(j.End.Streams) > 0 {
		r.MinRTT = time.Duration(j.End.Streams[0].Sender.MinRTT) * time.Microsecond
	}
	if r.BitsPerSecond <= 0 {
		return r, fmt.Errorf("iperf3 reported no throughput")
	}
	return r, nil
}

// PingResult is one round of iputils ping.
type PingResult struct {
	Sent, Received int
	Min, Avg, Max  time.Duration
}

// Loss is the fraction of packets lost.
func (p PingResult) Loss() float64 {
	if p.Sent == 0 {
		return 0
	}
	return float64(p.Sent-p.Received) / float64(p.Sent)
}

// Ping pings the server address from the client namespace with iputils
// ping: count packets, one every interval.
func (l *Lab) Ping(ctx context.Context, count int, interval time.Duration) (PingResult, error) {
	out, err := l.Output(l.Command(ctx, Client, "ping", "-n", "-q", "-c", strconv.Itoa(count),
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-W", "1", ServerAddr.String()))
	if err != nil && len(out) == 0 {
		return PingResult{}, err
	}
	return parsePing(out)
}

var (
	pingCounts = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	pingRTT    = regexp.MustCompile(`= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms`)
)

func parsePing(b []byte) (PingResult, error) {
	m := pingCounts.FindSubmatch(b)
	if m == nil {
		return PingResult{}, fmt.Errorf("ping output without counts: %q", b)
	}
	var r PingResult
	r.Sent, _ = strconv.Atoi(string(m[1]))
	r.Received, _ = strconv.Atoi(string(m[2]))
	if m := pingRTT.FindSubmatch(b); m != nil {
		ms := func(s []byte) time.Duration {
			f, _ := strconv.ParseFloat(string(s), 64)
			return time.Duration(f * float64(time.Millisecond))
		}
		r.Min, r.Avg, r.Max = ms(m[1]), ms(m[2]), ms(m[3])
	}
	return r, nil
}
