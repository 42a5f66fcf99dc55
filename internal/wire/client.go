package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
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

// PostError is the error of a POST that did not store the batch. Only
// Invalid is permanent: the service itself judged the batch bad (a 4xx
// with its JSON error body), and retrying cannot help. Unauthorized and
// Forbidden (401, 403) are usually an operator's fix away (a rotated or
// reloaded tokens file) and are retried like Transient failures (429, 5xx,
// network). Misdirected marks an answer that is not the service's: a
// redirect, or a 2xx or 4xx that is not its JSON; the batch stays spooled
// and the service URL needs fixing.
type PostError struct {
	Code        int // 0 for network failures
	Kind        fibremon.ErrorKind
	Misdirected bool
	Msg         string
	Field       string
	RetryAfter  time.Duration // from a Retry-After header, or 0
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

// noRedirect stops a client at the first redirect: Go would re-send a POST
// answered by 301, 302 or 303 as a GET, whose 2xx would then look like an
// acknowledgement of a batch that was never stored.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// PostResults posts one batch and returns the service's acknowledgement.
// The batch is stored only when the error is nil: the answer was a 2xx
// whose body is the service's JSON acknowledgement and whose stored and
// duplicates add up to len(rs). Redirects are never followed. The error,
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
	hc := http.Client{Timeout: 30 * time.Second}
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	hc.CheckRedirect = noRedirect
	resp, err := hc.Do(req)
	if err != nil {
		return ResultsResponse{}, &PostError{Kind: fibremon.Transient, Msg: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ResultsResponse{}, &PostError{Code: resp.StatusCode, Kind: fibremon.Transient, Msg: "reading answer: " + err.Error()}
	}
	switch resp.StatusCode / 100 {
	case 2:
		return acknowledgement(resp, raw, len(rs))
	case 3:
		return ResultsResponse{}, &PostError{Code: resp.StatusCode, Kind: fibremon.Transient, Misdirected: true,
			Msg: fmt.Sprintf("redirected to %q: a POST is never followed; set the service URL to the address the redirect names", resp.Header.Get("Location"))}
	}
	pe := &PostError{Code: resp.StatusCode, Kind: fibremon.Transient}
	var er ErrorResponse
	fromService := isJSON(resp.Header) && json.Unmarshal(raw, &er) == nil && er.Error != ""
	if fromService {
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
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && fromService:
		pe.Kind = fibremon.Invalid
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		// A 4xx that is not the service's JSON (a proxy's 404 page, a
		// wrong path) judges the address, not the batch.
		pe.Misdirected = true
		pe.Msg = "answer is not the service's: " + pe.Msg
	}
	return ResultsResponse{}, pe
}

// acknowledgement checks a 2xx answer: only the service's JSON
// acknowledgement, counting every result of the batch, means stored.
func acknowledgement(resp *http.Response, raw []byte, n int) (ResultsResponse, error) {
	notAck := func(format string, args ...any) (ResultsResponse, error) {
		return ResultsResponse{}, &PostError{Code: resp.StatusCode, Kind: fibremon.Transient, Misdirected: true,
			Msg: "answer is not the service's acknowledgement: " + fmt.Sprintf(format, args...)}
	}
	if !isJSON(resp.Header) {
		return notAck("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	var ack struct {
		Stored     *int `json:"stored"`
		Duplicates *int `json:"duplicates"`
	}
	if err := json.Unmarshal(raw, &ack); err != nil {
		return notAck("%v", err)
	}
	switch {
	case ack.Stored == nil || ack.Duplicates == nil:
		return notAck("no stored and duplicates counts")
	case *ack.Stored < 0 || *ack.Duplicates < 0 || *ack.Stored+*ack.Duplicates != n:
		return notAck("stored %d + duplicates %d for a batch of %d", *ack.Stored, *ack.Duplicates, n)
	}
	return ResultsResponse{Stored: *ack.Stored, Duplicates: *ack.Duplicates}, nil
}

// isJSON reports whether h declares a JSON body.
func isJSON(h http.Header) bool {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// Permanent reports whether err is the service's verdict that the batch
// is bad, which retrying cannot cure: the batch must be set aside.
func Permanent(err error) bool {
	pe, ok := err.(*PostError)
	return ok && pe.Kind == fibremon.Invalid && !pe.Misdirected
}

// Misdirected reports whether err is an answer that did not come from the
// service's results API (see PostError).
func Misdirected(err error) bool {
	pe, ok := err.(*PostError)
	return ok && pe.Misdirected
}

// Refused reports whether err is a 401 or 403: the token was not accepted.
func Refused(err error) bool {
	pe, ok := err.(*PostError)
	return ok && (pe.Kind == fibremon.Unauthorized || pe.Kind == fibremon.Forbidden)
}

// RetryAfter returns the delay the service asked for, or 0.
func RetryAfter(err error) time.Duration {
	if pe, ok := err.(*PostError); ok {
		return pe.RetryAfter
	}
	return 0
}
