package fibremon

import (
	"sort"
	"time"
)

// Query selects stored results. Zero fields do not filter.
type Query struct {
	SiteID string
	Kind   Kind
	Since  time.Time // inclusive
	Until  time.Time // exclusive; zero means now
	Limit  int       // 0 means the store's default
}

// DefaultQueryLimit bounds a query without a limit.
const DefaultQueryLimit = 10000

// Tally counts availability checks.
type Tally struct {
	Up    int `json:"up"`
	Total int `json:"total"`
}

// Ratio returns Up/Total, or nil when there were no checks.
func (t Tally) Ratio() *float64 {
	if t.Total == 0 {
		return nil
	}
	r := float64(t.Up) / float64(t.Total)
	return &r
}

// SortLatest orders results of one site by kind, in Kinds order.
func SortLatest(rs []Result) {
	order := make(map[Kind]int, len(Kinds))
	for i, k := range Kinds {
		order[k] = i
	}
	sort.SliceStable(rs, func(i, j int) bool { return order[rs[i].Kind] < order[rs[j].Kind] })
}
