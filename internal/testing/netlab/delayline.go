package netlab

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DelayLine is a TUN device whose every packet is written back to the
// kernel a fixed delay after it was read: a constant one-way delay for
// whatever the kernel routes into it, in both directions.
//
// It uses two goroutines, each locked to its own OS thread, which it
// raises to real-time priority (SCHED_FIFO) when permitted, so that other
// load on the machine does not add to the delay. The reader polls the
// device and reads every packet waiting into a ring of preallocated slots,
// stamping each with its due time. The writer sleeps with clock_nanosleep
// (timer slack 1 ns) until the oldest packet is due, then writes every
// packet that is due. With one delay for all packets the ring is a queue
// sorted by due time: no heap, no timer per packet. A full ring drops the
// arriving packet and counts it.
//
// Liveness: both goroutines exit when Close sets done and signals the stop
// eventfd: the reader and an idle writer wake from their poll at once, a
// busy writer within one delay. Close waits for both before it closes the device, so neither
// ever uses a closed descriptor.
type DelayLine struct {
	fd    int // the TUN device, non-blocking
	stop  int // eventfd written by Close
	delay time.Duration
	epoch time.Time

	slots []slot
	head  atomic.Uint64 // next slot to write; advanced by the writer
	tail  atomic.Uint64 // next slot to read into; advanced by the reader
	// waiting is set by the writer before it blocks on the wake
	// eventfd, so the reader signals only when needed.
	waiting atomic.Bool
	wake    int // eventfd: the reader wakes the idle writer
	done    atomic.Bool
	wg      sync.WaitGroup
	once    sync.Once

	forwarded atomic.Uint64
	dropped   atomic.Uint64
	late      atomic.Int64 // sum of write lateness, ns
	maxLate   atomic.Int64
	realtime  atomic.Int32 // threads that got SCHED_FIFO
}

type slot struct {
	n   int
	due int64 // ns since epoch
	buf [MTU + 64]byte
}

// RingSlots is the capacity of a DelayLine in packets: 16384 full frames
// are 1 Gbit/s for 196 ms, well beyond any one-way delay a profile sets.
const RingSlots = 1 << 14

// NewDelayLine creates the TUN device name, in this process's network
// namespace, with a one-way delay. The device is down and has no address;
// configure it, then call Start. It lives as long as the DelayLine.
func NewDelayLine(name string, delay time.Duration) (*DelayLine, error) {
	if delay <= 0 {
		return nil, errors.New("netlab: delay line needs a positive delay")
	}
	fd, err := openTUN(name)
	if err != nil {
		return nil, fmt.Errorf("delay line %s: %w", name, err)
	}
	var efd [2]int
	for i := range efd {
		if efd[i], err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			unix.Close(fd)
			if i > 0 {
				unix.Close(efd[0])
			}
			return nil, fmt.Errorf("delay line eventfd: %w", err)
		}
	}
	return &DelayLine{
		fd:    fd,
		stop:  efd[0],
		wake:  efd[1],
		delay: delay,
		epoch: time.Now(),
		slots: make([]slot, RingSlots),
	}, nil
}

// openTUN opens a layer-3 TUN device without packet information headers,
// non-blocking: the reader polls it together with the stop eventfd.
func openTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// Start starts forwarding.
func (d *DelayLine) Start() {
	d.wg.Add(2)
	go d.read()
	go d.write()
}

// Delay is the one-way delay.
func (d *DelayLine) Delay() time.Duration { return d.delay }

// DelayLineStats counts a DelayLine's packets.
type DelayLineStats struct {
	Forwarded uint64 `json:"forwarded"`
	Dropped   uint64 `json:"dropped"`
	// MeanLate and MaxLate are how much later than due packets were
	// written, on average and at worst.
	MeanLate time.Duration `json:"mean_late"`
	MaxLate  time.Duration `json:"max_late"`
	// Realtime is true when both threads run at SCHED_FIFO.
	Realtime bool `json:"realtime"`
}

// Stats returns the counts so far.
func (d *DelayLine) Stats() DelayLineStats {
	s := DelayLineStats{Forwarded: d.forwarded.Load(), Dropped: d.dropped.Load(), MaxLate: time.Duration(d.maxLate.Load()),
		Realtime: d.Realtime()}
	if s.Forwarded > 0 {
		s.MeanLate = time.Duration(d.late.Load() / int64(s.Forwarded))
	}
	return s
}

func (d *DelayLine) now() int64 { return int64(time.Since(d.epoch)) }

// realtimeThread locks the calling goroutine to its thread (for good: the
// thread exits with the goroutine) and raises the thread to SCHED_FIFO
// with timer slack 1 ns.
func (d *DelayLine) realtimeThread() {
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	if unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}, 0) == nil {
		d.realtime.Add(1)
	}
}

// Realtime reports whether both threads run at real-time priority.
func (d *DelayLine) Realtime() bool { return d.realtime.Load() == 2 }

func (d *DelayLine) read() {
	defer d.wg.Done()
	d.realtimeThread()
	var scratch [MTU + 64]byte
	mask := uint64(len(d.slots) - 1)
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}, {Fd: int32(d.stop), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		// Drain what is waiting; all of it is due one delay from now.
		for {
			t := d.tail.Load()
			full := t-d.head.Load() == uint64(len(d.slots))
			buf := scratch[:]
			s := &d.slots[t&mask]
			if !full {
				buf = s.buf[:]
			}
			n, err := unix.Read(d.fd, buf)
			if err != nil {
				break // EAGAIN: back to poll
			}
			if full {
				d.dropped.Add(1)
				continue
			}
			s.n, s.due = n, d.now()+int64(d.delay)
			d.tail.Store(t + 1)
			if d.waiting.Load() {
				signalFD(d.wake)
			}
		}
	}
}

func (d *DelayLine) write() {
	defer d.wg.Done()
	d.realtimeThread()
	mask := uint64(len(d.slots) - 1)
	for {
		h := d.head.Load()
		if h == d.tail.Load() {
			d.waiting.Store(true)
			// Check again: the reader may have queued a packet
			// before it saw waiting set.
			if h == d.tail.Load() {
				// Both eventfds: the wait is the kernel's alone, so
				// this real-time thread wakes at once, whatever the
				// load of the machine and of Go's scheduler.
				fds := []unix.PollFd{{Fd: int32(d.wake), Events: unix.POLLIN}, {Fd: int32(d.stop), Events: unix.POLLIN}}
				if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
					return
				}
				if fds[1].Revents != 0 {
					return
				}
				var b [8]byte
				unix.Read(d.wake, b[:])
			}
			d.waiting.Store(false)
			continue
		}
		s := &d.slots[h&mask]
		if wait := s.due - d.now(); wait > 0 {
			ts := unix.NsecToTimespec(wait)
			for unix.Nanosleep(&ts, &ts) == unix.EINTR {
			}
		}
		late := d.now() - s.due
		if _, err := unix.Write(d.fd, s.buf[:s.n]); err != nil {
			// The kernel refused this packet (e.g. no route yet):
			// it is lost, like on a real line.
			d.dropped.Add(1)
		} else {
			d.forwarded.Add(1)
			d.late.Add(late)
			if late > d.maxLate.Load() {
				d.maxLate.Store(late)
			}
		}
		d.head.Store(h + 1)
		if d.done.Load() {
			return
		}
	}
}

// Close stops forwarding and removes the device. Packets still held are
// dropped.
func (d *DelayLine) Close() error {
	var err error
	d.once.Do(func() {
		d.done.Store(true)
		signalFD(d.stop)
		d.wg.Wait()
		err = errors.Join(unix.Close(d.fd), unix.Close(d.stop), unix.Close(d.wake))
	})
	return err
}

// signalFD adds one to an eventfd.
func signalFD(efd int) {
	one := [8]byte{1} // little-endian uint64 1
	unix.Write(efd, one[:])
}
