package fibrehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"fibremon"
)

// Client posts results to a fibremon service. It is safe for concurrent use.
type Client struct {
	BaseURL    string // e.g. "http://127.0.0.1:8080"
	Token      string
	HTTPClient *http.Client // nil means a client with a 30 s timeout
	UserAgent  string
}

// PostError is the error of a refused POST. Kind is Invalid, Unauthorized
// or Forbidden for permanent refusals (4xx: retrying cannot help) and
// Transient for 429, 5xx and network failures.
type PostError struct {
	Code       int // 0 for network failures
	Kind       fibremon.ErrorKind
	Msg        string
	Field      string
	RetryAfter time.Duration // from a Retry-After header, or 0
}

func (e *PostError) Error() string {
	s := "post results: "
	if e.Code != 0 {
		s += strconv.Itoa(e.Code) + " "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

// PostResults posts one batch and returns the service's answer. The error,
// if any, is a *PostError; fibremon.KindOf does not see it, use Permanent.
func (c *Client) PostResults(ctx context.Context, rs []fibremon.Result) (ResultsResponse, error) {
	body, err := json.Marshal(ResultsRequest{Results: rs})
	if err != nil {
		return ResultsResponse{}, &PostError{Kind: fibremon.Invalid, Msg: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+PathResults, bytes.NewReader(body))
	if err != nil {
		return ResultsResponse{}, &PostError{Kind: fibremon.Invalid, Msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ResultsResponse{}, &PostError{Kind: fibremon.Transient, Msg: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ResultsResponse{}, &PostError{Code: resp.StatusCode, Kind: fibremon.Transient, Msg: "reading answer: " + err.Error()}
	}
	if resp.StatusCode/100 == 2 {
		var out ResultsResponse
		_ = json.Unmarshal(raw, &out) // the batch is committed; an odd answer changes nothing
		return out, nil
	}
	pe := &PostError{Code: resp.StatusCode, Kind: fibremon.Transient}
	var er ErrorResponse
	if json.Unmarshal(raw, &er) == nil && er.Error != "" {
		pe.Msg, pe.Field = er.Error, er.Field
	} else {
		pe.Msg = strings.TrimSpace(string(raw))
		if len(pe.Msg) > 200 {
			pe.Msg = pe.Msg[:200]
		}
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		pe.RetryAfter = time.Duration(secs) * time.Second
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		pe.Kind = fibremon.Unauthorized
	case resp.StatusCode == http.StatusForbidden:
		pe.Kind = fibremon.Forbidden
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		pe.Kind = fibremon.Transient
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		pe.Kind = fibremon.Invalid
	}
	return ResultsResponse{}, pe
}

// Permanent reports whether err is a refusal that retrying cannot cure
// (the batch must be set aside, not retried).
func Permanent(err error) bool {
	pe, ok := err.(*PostError)
	return ok && pe.Kind != fibremon.Transient
}

// RetryAfter returns the delay the service asked for, or 0.
func RetryAfter(err error) time.Duration {
	if pe, ok := err.(*PostError); ok {
		return pe.RetryAfter
	}
	return 0
}
