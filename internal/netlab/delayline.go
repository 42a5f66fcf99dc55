package netlab

import (
	"errors"
	"fmt"
	"os"
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
// It uses two goroutines. The reader reads packets into a ring of
// preallocated slots, stamping each with its arrival time. The writer,
// locked to its own OS thread, sleeps with clock_nanosleep (timer slack
// 1 ns) until the oldest packet is due, then writes every packet that is
// due. With one delay for all packets the ring is a queue sorted by due
// time, so there is no heap and no timer per packet. A full ring drops the
// arriving packet and counts it.
//
// Liveness: both goroutines exit when Close closes the device: the
// reader's Read fails; the writer, at most one delay later, finds the done
// channel closed or its Write failing. Close waits for both.
type DelayLine struct {
	dev   *os.File
	delay time.Duration
	epoch time.Time

	slots []slot
	head  atomic.Uint64 // next slot to write; advanced by the writer
	tail  atomic.Uint64 // next slot to read into; advanced by the reader
	// waiting is set by the writer before it blocks on wake, so the
	// reader signals only when needed.
	waiting atomic.Bool
	wake    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	forwarded atomic.Uint64
	dropped   atomic.Uint64
	late      atomic.Int64 // sum of write lateness, ns
	maxLate   atomic.Int64
}

type slot struct {
	n   int
	due int64 // ns since epoch
	buf [MTU + 64]byte
}

// RingSlots is the capacity of a DelayLine in packets: 16384 full frames
// are 1 Gbit/s for 196 ms, well beyond any one-way delay a profile sets.
const RingSlots = 1 << 14

// NewDelayLine creates the TUN device name in namespace ns (a /run/netns
// name) with a one-way delay. The device is down and has no address;
// configure it, then call Start.
func NewDelayLine(ns, name string, delay time.Duration) (*DelayLine, error) {
	if delay <= 0 {
		return nil, errors.New("netlab: delay line needs a positive delay")
	}
	var fd int
	err := inNetns(ns, func() error {
		var err error
		fd, err = openTUN(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delay line %s in %s: %w", name, ns, err)
	}
	return &DelayLine{
		dev:   os.NewFile(uintptr(fd), "/dev/net/tun:"+name),
		delay: delay,
		epoch: time.Now(),
		slots: make([]slot, RingSlots),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}, nil
}

// openTUN opens a layer-3 TUN device without packet information headers,
// non-blocking so that Go's poller drives its reads and Close interrupts
// them.
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
	Forwarded, Dropped uint64
	// MeanLate and MaxLate are how much later than due packets were
	// written, on average and at worst.
	MeanLate, MaxLate time.Duration
}

// Stats returns the counts so far.
func (d *DelayLine) Stats() DelayLineStats {
	s := DelayLineStats{Forwarded: d.forwarded.Load(), Dropped: d.dropped.Load(), MaxLate: time.Duration(d.maxLate.Load())}
	if s.Forwarded > 0 {
		s.MeanLate = time.Duration(d.late.Load() / int64(s.Forwarded))
	}
	return s
}

func (d *DelayLine) now() int64 { return int64(time.Since(d.epoch)) }

func (d *DelayLine) read() {
	defer d.wg.Done()
	var scratch [MTU + 64]byte
	mask := uint64(len(d.slots) - 1)
	for {
		t := d.tail.Load()
		if t-d.head.Load() == uint64(len(d.slots)) {
			if _, err := d.dev.Read(scratch[:]); err != nil {
				return
			}
			d.dropped.Add(1)
			continue
		}
		s := &d.slots[t&mask]
		n, err := d.dev.Read(s.buf[:])
		if err != nil {
			return
		}
		s.n, s.due = n, d.now()+int64(d.delay)
		d.tail.Store(t + 1)
		if d.waiting.Load() {
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (d *DelayLine) write() {
	defer d.wg.Done()
	// The thread is never unlocked: its timer slack stays with it and
	// it exits with the goroutine.
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	mask := uint64(len(d.slots) - 1)
	for {
		h := d.head.Load()
		if h == d.tail.Load() {
			d.waiting.Store(true)
			// Check again: the reader may have queued a packet
			// before it saw waiting set.
			if h == d.tail.Load() {
				select {
				case <-d.wake:
				case <-d.done:
					return
				}
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
		if _, err := d.dev.Write(s.buf[:s.n]); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
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
		select {
		case <-d.done:
			return
		default:
		}
	}
}

// Close stops forwarding and removes the device. Packets still held are
// dropped.
func (d *DelayLine) Close() error {
	var err error
	d.once.Do(func() {
		close(d.done)
		err = d.dev.Close()
		d.wg.Wait()
	})
	return err
}
