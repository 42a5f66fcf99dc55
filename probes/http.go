package probes

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"

	"fibremon"
)

// MaxBodyBytes is how much of a response body HTTP reads (and discards)
// before it closes the connection.
const MaxBodyBytes = 1 << 20

// HTTP sends one GET to the URL t.Address over a new connection dialled
// with t.Dial, without a proxy and without following redirects, and reads
// at most MaxBodyBytes of the body. It is Up when the status is in
// t.ExpectStatus (default 200–399, so a redirect counts as up) and the body
// read completes; fibremon.HTTPStatusCode is reported whenever a response
// came.
func HTTP(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	if err := checkKind(t, fibremon.KindHTTP); err != nil {
		return Measurement{}, err
	}
	u, err := url.Parse(t.Address)
	if err != nil {
		return Measurement{}, badTargetf("http URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Measurement{}, badTargetf("http URL %q: want http:// or https:// and a host", t.Address)
	}
	for _, code := range t.ExpectStatus {
		if code < 100 || code > 599 {
			return Measurement{}, badTargetf("http expected status %d out of range [100, 599]", code)
		}
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindHTTP), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx)
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
	case !statusExpected(resp.StatusCode, t.ExpectStatus):
		m.Err = truncate(fmt.Sprintf("status %s, want %s", resp.Status, expectText(t.ExpectStatus)))
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
