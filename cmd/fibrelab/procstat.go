package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTick = 100

// procSample is one look at a process.
type procSample struct {
	At        time.Time
	RSS, HWM  int64         // bytes: VmRSS and VmHWM
	CPU       time.Duration // utime + stime
	Available bool
}

func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.RSS = kb << 10
		case "VmHWM:":
			s.HWM = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(ut+st) * time.Second / clockTick
	s.Available = s.RSS > 0 // a zombie has no memory and no VmRSS line
	return s, nil
}

// sampler records a process's samples every interval until stopped.
//
// Liveness: the goroutine returns when ctx is done or the process is gone;
// stop waits for it.
type sampler struct {
	mu      sync.Mutex
	samples []procSample
	done    chan struct{}
	cancel  context.CancelFunc
}

func startSampler(ctx context.Context, pid int, every time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			p, err := readProc(pid)
			if err != nil || !p.Available {
				return
			}
			s.mu.Lock()
			s.samples = append(s.samples, p)
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() []procSample {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// footprint summarises samples between from and to.
type footprint struct {
	PeakRSS, HWM int64
	CPU          time.Duration // CPU time used in the window
	Wall         time.Duration
}

// CPUPercent is the CPU time over the wall time, in % of one core.
func (f footprint) CPUPercent() float64 {
	if f.Wall <= 0 {
		return 0
	}
	return 100 * f.CPU.Seconds() / f.Wall.Seconds()
}

func window(samples []procSample, from, to time.Time) (footprint, bool) {
	var in []procSample
	for _, s := range samples {
		if !s.At.Before(from) && !s.At.After(to) {
			in = append(in, s)
		}
	}
	if len(in) < 2 {
		return footprint{}, false
	}
	f := footprint{CPU: in[len(in)-1].CPU - in[0].CPU, Wall: in[len(in)-1].At.Sub(in[0].At)}
	for _, s := range in {
		f.PeakRSS = max(f.PeakRSS, s.RSS)
		f.HWM = max(f.HWM, s.HWM)
	}
	return f, true
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// cpuTicks is the machine's CPU time from /proc/stat, in ticks.
type cpuTicks struct{ total, idle int64 }

func cpuTimes() (cpuTicks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTicks{}, fmt.Errorf("/proc/stat: malformed")
	}
	var t cpuTicks
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
}
