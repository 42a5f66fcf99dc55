package dashboards

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/rules/fibremon.rules.yml"
	rulesTestFile = "prometheus/rules/fibremon.rules.test.yml"
	installHint   = "apt-get install prometheus (scripts/install-test-deps)"
)

// severities are the values of an alert's severity label that Alertmanager
// routes on.
var severities = map[string]bool{"critical": true, "warning": true, "info": true}

// notPerSite are the alerts about something other than one site, whose
// annotations need not name $labels.site_id, with the reason.
var notPerSite = map[string]string{
	"FibremonServiceDown":   "about the service's scrape target, which has no site_id",
	"FibremonNoProbeTokens": "about the service's tokens, which no site owns",
}

// groupingClause matches by (...), without (...) and on (...) label lists.
var groupingClause = regexp.MustCompile(`\b(by|on|ignoring|without)\s*\(([^)]*)\)`)

// extraMetrics are series a rule may read that are not fibremon's own:
// Prometheus's scrape health.
var extraMetrics = map[string]bool{"up": true}

// rulesConfig is a Prometheus rule file; unknown keys fail the decoding.
type rulesConfig struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// rulesTests is the part of a promtool test file that says which alerts it
// tests, and whether each is expected to fire.
type rulesTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// promtool returns the path of promtool, failing the test with how to
// install it when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): %s", err, installHint)
	}
	return p
}

// runPromtool runs promtool with args in dir and returns its combined
// output and error.
func runPromtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestRulesPromtool: promtool finds the rules valid and their unit tests pass.
func TestRulesPromtool(t *testing.T) {
	t.Parallel() // promtool reads the files only
	if out, err := runPromtool(t, ".", "check", "rules", rulesFile); err != nil {
		t.Errorf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	dir, file := filepath.Split(rulesTestFile)
	out, err := runPromtool(t, dir, "test", "rules", file)
	if err != nil {
		t.Errorf("promtool test rules %s: %v\n%s", rulesTestFile, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules %s did not report SUCCESS:\n%s", rulesTestFile, out)
	}
}

// TestRulesPromtoolCatchesFailure: a test with a wrong expectation fails, so
// TestRulesPromtool cannot pass because promtool ran nothing.
func TestRulesPromtoolCatchesFailure(t *testing.T) {
	t.Parallel() // its own copy of the files
	b, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	const want = `summary: "Site municipio is down"`
	if !bytes.Contains(b, []byte(want)) {
		t.Fatalf("%s has no %s to break", rulesTestFile, want)
	}
	dir := t.TempDir()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.ReplaceAll(b, []byte(want), []byte(`summary: "Site municipio is up"`))
	for name, data := range map[string][]byte{"fibremon.rules.yml": rules, "broken.test.yml": broken} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runPromtool(t, dir, "test", "rules", "broken.test.yml")
	if err == nil || !strings.Contains(out, "FAILED") {
		t.Errorf("promtool test rules passed a test expecting the wrong summary (err %v):\n%s", err, out)
	}
}

func loadRules(t *testing.T) rulesConfig {
	t.Helper()
	var c rulesConfig
	if err := decodeYAML(rulesFile, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRulesConventions: every alert has a severity, a summary and a
// description naming the site, and reads only documented metrics (or the
// file's own recording rules); every alert has promtool unit tests where it
// fires and where it must not.
func TestRulesConventions(t *testing.T) {
	c := loadRules(t)
	ms, err := loadMetrics(metricsReadme)
	if err != nil {
		t.Fatal(err)
	}
	recorded := make(map[string]bool)
	for _, g := range c.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	var alerts []string
	for _, g := range c.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a group needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			for _, m := range names {
				if _, ok := ms[m]; !ok && !recorded[m] && !extraMetrics[m] {
					t.Errorf("%s reads %s, which is neither in %s nor recorded in %s", name, m, metricsReadme, rulesFile)
				}
			}
			// A rule that groups or matches by site keeps the comune, so
			// that alerts can be routed to the comune's municipality.
			for _, m := range groupingClause.FindAllStringSubmatch(r.Expr, -1) {
				labels := strings.Split(strings.ReplaceAll(m[2], " ", ""), ",")
				if slices.Contains(labels, "site_id") && !slices.Contains(labels, "comune") {
					t.Errorf("%s: %s (%s) keeps site_id but not comune", name, m[1], m[2])
				}
			}
			if r.Record != "" {
				if !strings.Contains(r.Record, ":") {
					t.Errorf("recording rule %s: name it level:metric:operations (with colons)", r.Record)
				}
				continue
			}
			alerts = append(alerts, r.Alert)
			if !severities[r.Labels["severity"]] {
				t.Errorf("alert %s: severity %q, want one of critical, warning, info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if _, ok := notPerSite[r.Alert]; !ok {
				for _, a := range []string{"summary", "description"} {
					if !strings.Contains(r.Annotations[a], "{{ $labels.site_id }}") {
						t.Errorf("alert %s: the %s does not name {{ $labels.site_id }}", r.Alert, a)
					}
				}
			}
		}
	}
	if len(alerts) < 5 {
		t.Errorf("only %d alerts in %s", len(alerts), rulesFile)
	}

	var tests rulesTests
	b, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	if !slices.Contains(tests.RuleFiles, filepath.Base(rulesFile)) {
		t.Errorf("%s does not test %s: rule_files %q", rulesTestFile, rulesFile, tests.RuleFiles)
	}
	firing, quiet := map[string]int{}, map[string]int{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname]++
			} else {
				quiet[a.Alertname]++
			}
		}
	}
	for _, a := range alerts {
		if firing[a] == 0 || quiet[a] == 0 {
			t.Errorf("alert %s: %d promtool cases where it fires and %d where it does not; want both",
				a, firing[a], quiet[a])
		}
	}
	for a := range firing {
		if !slices.Contains(alerts, a) {
			t.Errorf("%s tests alert %s, which %s does not define", rulesTestFile, a, rulesFile)
		}
	}
}

// ruleGroupNames returns the names of the rule groups, for the check that
// a real Prometheus loaded them all.
func ruleGroupNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, g := range loadRules(t).Groups {
		names = append(names, g.Name)
	}
	return names
}
