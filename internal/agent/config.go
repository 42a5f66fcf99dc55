// Package agent is the probe agent: its configuration, the scheduler that
// runs each configured measurement on a jittered interval, and the uploader
// that drains the on-disk spool to the central service.
//
// Every result is minted with its UUID when measured, written to the spool
// (fsynced) before anything else happens to it, and deleted from the spool
// only after the service has acknowledged it with a 2xx.
package agent

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"fibremon"
	"fibremon/probes"
)

// Config is the probe agent's configuration file (see CONFIGURATION.md).
type Config struct {
	// Probe names this agent; SiteID is the site it measures.
	Probe  string `yaml:"probe"`
	SiteID string `yaml:"site_id"`

	Service ServiceConfig `yaml:"service"`
	Spool   SpoolConfig   `yaml:"spool"`
	Web     WebConfig     `yaml:"web"`
	// Measurements are decoded through configFile, once each one's kind
	// is known.
	Measurements []MeasurementConfig `yaml:"-"`

	file string
	root *yaml.Node
}

// ServiceConfig says where results go.
type ServiceConfig struct {
	// URL is the service; URLs, instead, several replicas of it in order
	// of preference (see Agent.Flush for the failover).
	URL            string        `yaml:"url"`
	URLs           []string      `yaml:"urls"`
	Token          string        `yaml:"token"`
	TokenFile      string        `yaml:"token_file"`
	CAFile         string        `yaml:"ca_file"`
	UploadInterval time.Duration `yaml:"upload_interval"`
	BatchSize      int           `yaml:"batch_size"`
	Timeout        time.Duration `yaml:"timeout"`
}

// SpoolConfig bounds the on-disk queue.
type SpoolConfig struct {
	Dir      string        `yaml:"dir"`
	MaxBytes int64         `yaml:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age"`
}

// WebConfig is the agent's own HTTP endpoint (/metrics, /healthz).
type WebConfig struct {
	ListenAddress string `yaml:"listen_address"`
}

// MeasurementConfig is one scheduled measurement.
type MeasurementConfig struct {
	Name     string        `yaml:"name"`
	Kind     fibremon.Kind `yaml:"kind"`
	Target   string        `yaml:"target"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	// Schedule says when the measurement runs; the default is every
	// Interval ±10 %.
	Schedule ScheduleConfig `yaml:"schedule"`
	// Options are the options of Kind; those of other kinds stay zero. In
	// the file they sit beside the fields above: "count: 20" on a latency
	// measurement is Options.Latency.Count. Their names, defaults and
	// limits are package probes' (probes.LatencyOptions ...).
	probes.Options `yaml:"-"`
}

// configFile is the layout of a configuration file. A measurement's
// fields beyond MeasurementConfig's are its kind's options, decoded by
// decodeOptions once the kind is known.
type configFile struct {
	Config       `yaml:",inline"`
	Measurements []measurementFile `yaml:"measurements"`
}

type measurementFile struct {
	MeasurementConfig `yaml:",inline"`
	Rest              map[string]yaml.Node `yaml:",inline"`
}

// ScheduleConfig is a measurement's schedule.
type ScheduleConfig struct {
	// Mode is ModeInterval (the default), ModeSlots or ModeRandom.
	Mode string `yaml:"mode"`
	// Slot is the slot length of ModeSlots (default 15m).
	Slot time.Duration `yaml:"slot"`
	// Mean, Min and Max shape the waits of ModeRandom (defaults 6h, 36m,
	// 15h).
	Mean time.Duration `yaml:"mean"`
	Min  time.Duration `yaml:"min"`
	Max  time.Duration `yaml:"max"`
}

// Defaults.
var (
	DefaultService = ServiceConfig{UploadInterval: 15 * time.Second, BatchSize: 500, Timeout: 30 * time.Second}
	DefaultSpool   = SpoolConfig{MaxBytes: 256 << 20, MaxAge: 30 * 24 * time.Hour}
	DefaultWeb     = WebConfig{ListenAddress: "127.0.0.1:9516"}
)

// ConfigError is a configuration error with its place in the file.
type ConfigError struct {
	File  string
	Line  int // 0 when unknown
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadConfig reads, strictly decodes and validates a configuration file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return ParseConfig(path, b)
}

// ParseConfig decodes and validates data read from file (used in errors).
// Unknown fields, wrong types and invalid values are errors naming the file,
// the line and the field.
func ParseConfig(file string, data []byte) (*Config, error) {
	if len(data) > 1<<20 {
		return nil, &ConfigError{File: file, Msg: "larger than 1 MiB"}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	if len(root.Content) == 0 {
		return nil, &ConfigError{File: file, Msg: "empty configuration"}
	}
	f := configFile{Config: Config{Service: DefaultService, Spool: DefaultSpool, Web: DefaultWeb}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, yamlError(file, err)
	}
	c := &f.Config
	c.file, c.root = file, &root
	for i, mf := range f.Measurements {
		m := mf.MeasurementConfig
		if err := c.decodeOptions(i, &m, mf.Rest); err != nil {
			return nil, err
		}
		c.Measurements = append(c.Measurements, m)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeOptions decodes the fields of measurement i beyond
// MeasurementConfig's into the options of its kind. A field that is not
// one of them is an error naming the kind's options. A measurement of an
// unknown kind is left for validate to refuse.
func (c *Config) decodeOptions(i int, m *MeasurementConfig, rest map[string]yaml.Node) error {
	dst := m.Options.OptionsOf(m.Kind)
	if dst == nil || len(rest) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(rest), func(a, b string) int { // in file order
		return cmp.Or(cmp.Compare(rest[a].Line, rest[b].Line), cmp.Compare(rest[a].Column, rest[b].Column))
	})
	own := optionNames(dst)
	for _, k := range keys {
		path := fmt.Sprintf("measurements[%d].%s", i, k)
		if !slices.Contains(own, k) {
			for _, other := range fibremon.Kinds {
				if slices.Contains(optionNames(m.Options.OptionsOf(other)), k) {
					return c.errAt(path, "not an option of kind %s (%s)", m.Kind, kindOptions(m.Kind, own, "its options: "))
				}
			}
			return c.errAt(path, "unknown field (a measurement has %s; %s)", strings.Join(optionNames(&MeasurementConfig{}), ", "),
				kindOptions(m.Kind, own, "kind "+string(m.Kind)+" also "))
		}
		v := rest[k]
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &v}}
		if err := n.Decode(dst); err != nil {
			return c.errAt(path, "%s", yamlError("", err).(*ConfigError).Msg)
		}
	}
	return nil
}

// kindOptions lists the option names of kind k after prefix.
func kindOptions(k fibremon.Kind, names []string, prefix string) string {
	if len(names) == 0 {
		return "kind " + string(k) + " has no options"
	}
	return prefix + strings.Join(names, ", ")
}

// optionNames returns the names in the file of the fields of the struct
// that v points to, as yaml decodes them: the yaml tag's, else the field
// name in lower case.
func optionNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		switch {
		case name == "-" || !t.Field(i).IsExported():
			continue
		case name == "":
			name = strings.ToLower(t.Field(i).Name)
		}
		names = append(names, name)
	}
	return names
}

// yamlError converts yaml's "line N: ..." messages to ConfigErrors.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return &ConfigError{File: file, Line: lineOfMsg(te.Errors[0]), Msg: stripLine(te.Errors[0])}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return &ConfigError{File: file, Line: lineOfMsg(msg), Msg: stripLine(msg)}
}

func lineOfMsg(msg string) int {
	if _, rest, ok := strings.Cut(msg, "line "); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end > 0 {
			n, _ := strconv.Atoi(rest[:end])
			return n
		}
	}
	return 0
}

func stripLine(msg string) string {
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		if j := strings.Index(rest, ": "); j >= 0 {
			return msg[:i] + rest[j+2:]
		}
	}
	return msg
}

// errAt builds a ConfigError for a field path such as
// "measurements[2].interval", finding its line in the file.
func (c *Config) errAt(path string, format string, args ...any) error {
	return &ConfigError{File: c.file, Line: c.lineOf(path), Field: path, Msg: fmt.Sprintf(format, args...)}
}

// lineOf walks the YAML tree along path; it returns the line of the
// deepest node found (the field's own line when it is set, else its parent's).
func (c *Config) lineOf(path string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 0
	}
	n := c.root.Content[0]
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == name {
					line = n.Content[j].Line
					next = n.Content[j+1]
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

// Validate applies defaults and checks a Config built in code; errors name
// the field (and the line when the Config came from a file).
func (c *Config) Validate() error {
	if c.file == "" {
		c.file = "config"
	}
	return c.validate()
}

func (c *Config) validate() error {
	switch {
	case c.Probe == "":
		return c.errAt("probe", "missing")
	case !fibremon.ValidID(c.Probe):
		return c.errAt("probe", "%q: use lower-case letters, digits, '.', '_', '-'", c.Probe)
	case c.SiteID == "":
		return c.errAt("site_id", "missing")
	case !fibremon.ValidID(c.SiteID):
		return c.errAt("site_id", "%q: use lower-case letters, digits, '.', '_', '-'", c.SiteID)
	}
	switch {
	case c.Service.URL != "" && len(c.Service.URLs) > 0:
		return c.errAt("service.urls", "set url or urls, not both")
	case len(c.Service.URLs) > 0:
		seen := map[string]int{}
		for i, u := range c.Service.URLs {
			field := fmt.Sprintf("service.urls[%d]", i)
			if err := checkURL(u); err != nil {
				return c.errAt(field, "%v", err)
			}
			if j, dup := seen[u]; dup {
				return c.errAt(field, "%q already is service.urls[%d]", u, j)
			}
			seen[u] = i
		}
	default:
		if err := checkURL(c.Service.URL); err != nil {
			return c.errAt("service.url", "%v", err)
		}
	}
	if c.Service.Token != "" && c.Service.TokenFile != "" {
		return c.errAt("service.token_file", "set token or token_file, not both")
	}
	if c.Service.Token == "" && c.Service.TokenFile == "" {
		return c.errAt("service.token", "missing (or set token_file)")
	}
	if c.Service.UploadInterval <= 0 {
		return c.errAt("service.upload_interval", "must be > 0")
	}
	if c.Service.BatchSize < 1 || c.Service.BatchSize > 5000 {
		return c.errAt("service.batch_size", "%d out of range [1, 5000]", c.Service.BatchSize)
	}
	if c.Service.Timeout <= 0 {
		return c.errAt("service.timeout", "must be > 0")
	}
	if c.Spool.Dir == "" {
		return c.errAt("spool.dir", "missing")
	}
	if c.Spool.MaxBytes < 1<<20 {
		return c.errAt("spool.max_bytes", "%d: at least 1 MiB (1048576)", c.Spool.MaxBytes)
	}
	if c.Spool.MaxAge < time.Hour {
		return c.errAt("spool.max_age", "%v: at least 1h", c.Spool.MaxAge)
	}
	if len(c.Measurements) == 0 {
		return c.errAt("measurements", "at least one measurement is needed")
	}
	names := map[string]int{}
	for i := range c.Measurements {
		m := &c.Measurements[i]
		p := fmt.Sprintf("measurements[%d]", i)
		if !m.Kind.Valid() {
			return c.errAt(p+".kind", "%q: want one of %v", m.Kind, fibremon.Kinds)
		}
		if m.Name == "" {
			m.Name = string(m.Kind)
		}
		if !fibremon.ValidID(m.Name) {
			return c.errAt(p+".name", "%q: use lower-case letters, digits, '.', '_', '-'", m.Name)
		}
		if j, dup := names[m.Name]; dup {
			return c.errAt(p+".name", "%q already names measurements[%d]", m.Name, j)
		}
		names[m.Name] = i
		if m.Target == "" {
			return c.errAt(p+".target", "missing")
		}
		if m.Timeout == 0 {
			m.Timeout = probes.DefaultTimeout(m.Kind)
		}
		if m.Timeout < 0 || m.Timeout > 5*time.Minute {
			return c.errAt(p+".timeout", "%v out of range (0, 5m]", m.Timeout)
		}
		if err := m.validateSchedule(); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				return c.errAt(p+"."+ce.Field, "%s", ce.Msg)
			}
			return c.errAt(p, "%v", err)
		}
		// The probe of the kind checks the target and its options, and
		// fills in their defaults.
		t, err := probes.Target{Kind: m.Kind, Address: m.Target, Options: m.Options}.Check()
		if err == nil {
			err = t.CheckTimeout(m.Timeout)
		}
		if err != nil {
			return c.targetError(p, err)
		}
		m.Target, m.Options = t.Address, t.Options
	}
	return nil
}

// validateSchedule applies the schedule's defaults and checks it; errors
// name the field relative to the measurement.
func (m *MeasurementConfig) validateSchedule() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	s := &m.Schedule
	if s.Mode == "" {
		s.Mode = ModeInterval
	}
	var allowed []string
	switch s.Mode {
	case ModeInterval:
		if m.Interval == 0 {
			m.Interval = defaultInterval(m.Kind)
		}
		if m.Interval < time.Second {
			return bad("interval", "%v: at least 1s", m.Interval)
		}
	case ModeSlots:
		allowed = []string{"slot"}
		if s.Slot == 0 {
			s.Slot = DefaultSlot
		}
		if s.Slot < time.Minute || s.Slot > 24*time.Hour {
			return bad("schedule.slot", "%v out of range [1m, 24h]", s.Slot)
		}
		if s.Slot < 2*m.Timeout {
			return bad("schedule.slot", "%v: at least twice the timeout %v, so that a test ends inside its slot", s.Slot, m.Timeout)
		}
	case ModeRandom:
		allowed = []string{"mean", "min", "max"}
		if s.Mean == 0 {
			s.Mean = DefaultRandomMean
		}
		if s.Min == 0 {
			s.Min = DefaultRandomMin
		}
		if s.Max == 0 {
			s.Max = DefaultRandomMax
		}
		switch {
		case s.Min < time.Second:
			return bad("schedule.min", "%v: at least 1s", s.Min)
		case s.Mean < s.Min:
			return bad("schedule.mean", "%v is below min %v", s.Mean, s.Min)
		case s.Max < s.Mean:
			return bad("schedule.max", "%v is below mean %v", s.Max, s.Mean)
		}
	default:
		return bad("schedule.mode", "%q: want interval, slots or random", s.Mode)
	}
	if s.Mode != ModeInterval && m.Interval != 0 {
		return bad("interval", "not used by schedule mode %s", s.Mode)
	}
	set := map[string]bool{"slot": s.Slot != 0, "mean": s.Mean != 0, "min": s.Min != 0, "max": s.Max != 0}
	for _, f := range []string{"slot", "mean", "min", "max"} {
		if set[f] && !slices.Contains(allowed, f) {
			return bad("schedule."+f, "not an option of schedule mode %s", s.Mode)
		}
	}
	return nil
}

// targetError turns a probe's *probes.TargetError about measurement p
// into a ConfigError naming the field.
func (c *Config) targetError(p string, err error) error {
	var te *probes.TargetError
	if !errors.As(err, &te) {
		return c.errAt(p, "%v", err)
	}
	switch te.Field {
	case "address":
		return c.errAt(p+".target", "%s", te.Msg)
	case "kind", "options":
		return c.errAt(p, "%s", te.Msg)
	}
	return c.errAt(p+"."+te.Field, "%s", te.Msg)
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return fmt.Errorf("%q: want an http(s) or ws(s) URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	return nil
}

// ServiceURLs returns the service's URLs in order of preference: URLs, or
// URL alone.
func (c *Config) ServiceURLs() []string {
	if len(c.Service.URLs) > 0 {
		return c.Service.URLs
	}
	return []string{c.Service.URL}
}

// Token returns the service token, reading token_file if set.
func (c *Config) Token() (string, error) {
	if c.Service.TokenFile == "" {
		return c.Service.Token, nil
	}
	b, err := os.ReadFile(c.Service.TokenFile)
	if err != nil {
		return "", c.errAt("service.token_file", "%v", err)
	}
	return strings.TrimSpace(string(b)), nil
}
