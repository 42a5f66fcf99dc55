package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"fibremon"
)

// MaxBodyBytes is how much of a response body HTTP reads (and discards)
// before it closes the connection.
const MaxBodyBytes = 1 << 20

// HTTPOptions are the options of an http check.
type HTTPOptions struct {
	// ExpectStatus are the accepted status codes; none means 200–399, so
	// that a redirect counts as up.
	ExpectStatus []int `yaml:"expect_status"`
}

// DefaultHTTPOptions are the defaults of an http check: status 200–399.
var DefaultHTTPOptions = HTTPOptions{}

// Validate checks the options.
func (o HTTPOptions) Validate() error {
	for i, code := range o.ExpectStatus {
		if code < 100 || code > 599 {
			return optionError(fibremon.KindHTTP, fmt.Sprintf("expect_status[%d]", i), "%d is not an HTTP status", code)
		}
	}
	return nil
}

func (o *HTTPOptions) setDefaults()                  { *o = withDefaults(*o, DefaultHTTPOptions) }
func (HTTPOptions) defaultTimeout() time.Duration    { return defaultTimeout }
func (HTTPOptions) checkTimeout(time.Duration) error { return nil }

func (HTTPOptions) checkAddress(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("missing")
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: want an http(s) URL", addr)
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q: no host", addr)
	}
	return addr, nil
}

// HTTP sends one GET to the URL t.Address over a new connection dialled
// with t.Dial, without a proxy and without following redirects, and reads
// at most MaxBodyBytes of the body. It is Up when the status is one of
// t.HTTP.ExpectStatus (default 200–399) and the body read completes;
// fibremon.HTTPStatusCode is reported whenever a response came.
func HTTP(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	t, err := checkTarget(t, fibremon.KindHTTP)
	if err != nil {
		return Measurement{}, err
	}
	u, err := url.Parse(t.Address)
	if err != nil {
		return Measurement{}, badTargetf("http URL: %v", err)
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindHTTP), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx, fibremon.KindHTTP)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Measurement{}, badTargetf("http request: %v", err)
	}
	req.Header.Set("User-Agent", "fibreprobe")
	tr := &http.Transport{
		DialContext:       dialer(t),
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	m := Measurement{Method: MethodHTTPGet}
	resp, err := client.Do(req)
	if err != nil {
		if err := cancelled(ctx); err != nil {
			return Measurement{}, err
		}
		m.Err = describe(err, allowed)
		return m, nil
	}
	defer resp.Body.Close()
	_, readErr := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodyBytes))
	if resp.StatusCode <= 599 { // Go accepts any 3 digits; Validate does not
		m.Values = map[string]float64{fibremon.HTTPStatusCode: float64(resp.StatusCode)}
	}
	switch {
	case !statusExpected(resp.StatusCode, t.HTTP.ExpectStatus):
		m.Err = truncate(fmt.Sprintf("status %s, want %s", resp.Status, expectText(t.HTTP.ExpectStatus)))
	case readErr != nil:
		if err := cancelled(ctx); err != nil {
			return Measurement{}, err
		}
		m.Err = "read body: " + describe(readErr, allowed)
	default:
		m.Up = true
	}
	logger.Debug("http check", "up", m.Up, "status", resp.StatusCode)
	return m, nil
}

func statusExpected(code int, expect []int) bool {
	if len(expect) == 0 {
		return code >= 200 && code <= 399
	}
	return slices.Contains(expect, code)
}

func expectText(expect []int) string {
	if len(expect) == 0 {
		return "200-399"
	}
	return fmt.Sprint(expect)
}
