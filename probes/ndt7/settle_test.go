package ndt7

import (
	"testing"
	"time"
)

func TestSettler(t *testing.T) {
	tests := []struct {
		name string
		rate func(s float64) float64 // bytes per second at s seconds
		want time.Duration           // when it settles; 0: never within 10 s
	}{
		{"steady", func(float64) float64 { return 1e6 }, 3 * time.Second},
		// [0.75 s, 1.75 s] is within 5 % of full rate: 0.97 s of it.
		{"slow start, then steady", func(s float64) float64 { return 1e6 * min(1, s) }, 3750 * time.Millisecond},
		{"ramping", func(s float64) float64 { return 1e6 * (1 + s) }, 0},
		{"steady but for a dip every 2 s", func(s float64) float64 {
			if int(s*4)%8 == 0 {
				return 0.5e6
			}
			return 1e6
		}, 0},
		{"idle", func(float64) float64 { return 0 }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSettler()
			var bytes float64
			var got time.Duration
			const step = MeasurementInterval
			for at := step; at <= 10*time.Second; at += step {
				// integrate the rate over the step, 10 sub-steps
				for i := range 10 {
					s := (at - step).Seconds() + (float64(i)+0.5)*step.Seconds()/10
					bytes += tt.rate(s) * step.Seconds() / 10
				}
				if st.add(at, int64(bytes)) {
					got = at
					break
				}
			}
			if got != tt.want {
				t.Errorf("settled at %v; want %v (0: never)", got, tt.want)
			}
		})
	}
}
